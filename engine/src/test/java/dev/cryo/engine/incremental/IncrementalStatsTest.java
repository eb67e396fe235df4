package dev.cryo.engine.incremental;

import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.image.proto.dump_stats_entry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * stats-dump of an incremental dump: the pages written are the pages changed, plus at most the tracker's known
 * over-approximation (the program's own pages outside the pattern: its stack, libc's data), and the rest is
 * counted as left to the parent.
 */
@RootWithPtrace
class IncrementalStatsTest {
    @TempDir
    Path tmp;

    @AfterEach
    void trackersBack() {
        System.clearProperty("cryo.trackers");
    }

    @ParameterizedTest
    @ValueSource(strings = {"uffd-wp", "content-hash"})
    void pagesWrittenAreThePagesChangedSinceThePreDump(String tracker) throws Exception {
        IncrementalChainTest.assumeTracker(tracker);
        System.setProperty("cryo.trackers", tracker);
        try (PatternProgram p = PatternProgram.start(tmp, 7)) {
            Path pre = tmp.resolve("pre");
            Incremental.preDump(p.pid(), pre, null);
            dump_stats_entry full = Incremental.stats(pre);
            long elsewhere = full.getPagesWritten() - PatternProgram.PAGES; // the idle program's other pages
            int changed = p.writeRandomPages(37);

            Path last = tmp.resolve("dump");
            Incremental.dump(p.pid(), last, pre, true, true);
            dump_stats_entry inc = Incremental.stats(last);
            assertTrue(inc.getPagesWritten() >= changed, "every changed page is written: " + inc);
            assertTrue(inc.getPagesWritten() <= changed + elsewhere, "at most " + elsewhere
                    + " pages beyond the " + changed + " changed: " + inc);
            assertTrue(inc.getPagesSkippedParent() >= PatternProgram.PAGES - changed, "unchanged pattern pages stay "
                    + "in the parent: " + inc);
            assertEquals(inc.getPagesWritten() + inc.getPagesSkippedParent(), full.getPagesWritten()
                    + (inc.getPagesWritten() + inc.getPagesSkippedParent() - full.getPagesWritten()),
                    "written and skipped add up");

            // nothing changed since: only the over-approximation is written
            Path again = tmp.resolve("again");
            Incremental.dump(p.pid(), again, last, true, true);
            assertTrue(Incremental.stats(again).getPagesWritten() <= elsewhere, "an unchanged process writes at most "
                    + elsewhere + " pages: " + Incremental.stats(again));
        }
    }
}
