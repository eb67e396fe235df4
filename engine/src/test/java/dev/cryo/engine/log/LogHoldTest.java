package dev.cryo.engine.log;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LogHoldTest {
    @TempDir
    Path tmp;

    @Test
    void heldLinesAreWrittenAtReleaseInOrderWithTheirOwnTimes() throws IOException {
        Path f = tmp.resolve("dump.log");
        Log log = Log.toFile(f, Log.DEBUG);
        log.info("before");
        log.hold();
        log.debug("frozen %d", 1);
        log.info("frozen %s", "two");
        log.debug("ignored at this level? no: %#x", 255);
        assertEquals(1, Files.readAllLines(f).size(), "nothing is written while held");
        log.release();
        log.info("after");
        log.close();
        List<String> lines = Files.readAllLines(f);
        assertEquals(5, lines.size(), lines.toString());
        assertTrue(lines.get(1).endsWith(") frozen 1"), lines.get(1));
        assertTrue(lines.get(2).endsWith(") frozen two"), lines.get(2));
        assertTrue(lines.get(3).endsWith("no: 0xff"), lines.get(3));
        long previous = -1;
        for (String line : lines) {
            assertTrue(line.matches("\\(\\d{2,}\\.\\d{6}\\) .*"), line);
            long us = Long.parseLong(line.substring(1, line.indexOf(')')).replace(".", ""));
            assertTrue(us >= previous, "times go forward: " + lines);
            previous = us;
        }
    }

    @Test
    void closeWritesWhatIsStillHeld() throws IOException {
        Path f = tmp.resolve("dump.log");
        Log log = Log.toFile(f, Log.INFO);
        log.hold();
        log.error("cannot dump pid %d: %s", 7, "gone");
        log.debug("below the level: never written");
        log.close();
        List<String> lines = Files.readAllLines(f);
        assertEquals(1, lines.size(), lines.toString());
        assertTrue(lines.get(0).endsWith(") Error: cannot dump pid 7: gone"), lines.get(0));
    }
}
