package dev.cryo.engine.mem;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PageProgressTest {
    private static final long GIB = 1L << 30;

    @Test
    void noBarWhenStderrIsNotATerminal() {
        var out = new ByteArrayOutputStream();
        try (PageProgress p = PageProgress.choose("Dumping memory", GIB, false, new PrintStream(out))) {
            assertSame(PageProgress.NONE, p);
            p.advance(GIB);
        }
        assertTrue(out.size() == 0, "nothing may be printed without a terminal");
    }

    @Test
    void noBarForASmallCopy() {
        assertSame(PageProgress.NONE, PageProgress.choose("Dumping memory", 1 << 20, true,
                new PrintStream(new ByteArrayOutputStream())));
    }

    @Test
    void barOnATerminalForALongCopy() {
        var out = new ByteArrayOutputStream();
        try (PageProgress p = PageProgress.choose("Dumping memory", GIB, true,
                new PrintStream(out, true, StandardCharsets.UTF_8))) {
            p.advance(GIB / 2);
            p.advance(GIB / 2);
        }
        String shown = out.toString(StandardCharsets.UTF_8);
        assertTrue(shown.contains("Dumping memory") && shown.contains("1024/1024"), shown);
    }

    @Test
    void thisTestRunHasNoTerminalOnStderrOrTheCheckIsMeaningless() {
        // Surefire pipes stderr: forCopy must therefore choose no bar here, whatever the size
        assertSame(PageProgress.NONE, PageProgress.forCopy("Dumping memory", GIB));
    }
}
