package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Guard regions (madvise MADV_GUARD_INSTALL, 6.13+): pages of a mapping that fault on any access, markers in the page
 * tables with no memory behind them. They come back where they were, and the pages around them with their bytes.
 * Before, the dump saw markers, no pages, and the restored pages were ordinary zeros: a stray access no longer
 * faulted.
 */
@RootWithPtrace
class GuardRegionsRoundTripTest {
    @TempDir
    Path tmp;

    private static final int PAGES = 16;
    private static final String FIXTURE = """
            #include <stdio.h>
            #include <sys/mman.h>
            #include <unistd.h>
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                char *p = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (int i = 0; i < 16; i++) p[i * 4096] = (char) (i + 1);
                int a = madvise(p + 4 * 4096, 2 * 4096, 102 /* MADV_GUARD_INSTALL */);
                int b = madvise(p + 11 * 4096, 4096, 102);
                printf("%lx %d\\n", (unsigned long) p, a | b);
                for (;;) pause();
            }
            """;

    @Test
    void guardRegionsComeBackWhereTheyWereWithThePagesAroundThem() throws Exception {
        try (CProgram.Started s = CProgram.startReporting(tmp, "guards", FIXTURE)) {
            Target t = s.target();
            String[] line = s.report();
            Assumptions.assumeTrue(line[1].equals("0"), "this kernel has no guard regions (madvise 102 refused)");
            long at = Long.parseUnsignedLong(line[0], 16);
            List<String> before = pages(t.pid(), at);
            assertEquals("1 2 3 4 guard guard 7 8 9 10 11 guard 13 14 15 16", String.join(" ", before),
                    "the fixture's pages as the kernel shows them");
            Checkpoint.restore(Checkpoint.dumpUntilGone(t, 1, tmp.resolve("img")));
            assertEquals(before, pages(t.pid(), at));
        }
    }

    /** Each page of the mapping: "guard" where the pagemap shows a guard marker, else its first byte. */
    private static List<String> pages(int pid, long at) throws Exception {
        List<String> out = new ArrayList<>();
        try (FileChannel pagemap = FileChannel.open(Path.of("/proc/" + pid + "/pagemap"));
             FileChannel mem = FileChannel.open(Path.of("/proc/" + pid + "/mem"))) {
            for (int i = 0; i < PAGES; i++) {
                long page = at + i * 4096L;
                ByteBuffer e = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
                pagemap.read(e, page / 4096 * 8);
                if ((e.getLong(0) >>> 58 & 1) != 0) {
                    out.add("guard");
                } else {
                    ByteBuffer b = ByteBuffer.allocate(1);
                    mem.read(b, page);
                    out.add(Integer.toString(b.get(0)));
                }
            }
        }
        return out;
    }
}
