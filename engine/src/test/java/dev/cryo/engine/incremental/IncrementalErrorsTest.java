package dev.cryo.engine.incremental;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.mem.UffdKeeper;
import dev.cryo.engine.sys.probe.SoftDirty;
import dev.cryo.engine.testing.RootWithPtrace;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** Bad --prev-images-dir and --track-mem: a one-line error, and the process runs on untouched. */
@RootWithPtrace
class IncrementalErrorsTest {
    @TempDir
    Path tmp;

    @AfterEach
    void trackersBack() {
        System.clearProperty("cryo.trackers");
    }

    private static void assertUntouched(PatternProgram p) throws Exception {
        assertTrue(p.target.alive(), "pid " + p.pid() + " still runs");
        String status = Files.readString(Path.of("/proc/" + p.pid() + "/status"));
        assertTrue(status.contains("TracerPid:\t0\n"), "pid " + p.pid() + " is not left traced");
        assertTrue(UffdKeeper.of(p.pid(), UffdKeeper.startTime(p.pid())).isEmpty(), "no userfaultfd keeper was started");
        String smaps = Files.readString(Path.of("/proc/" + p.pid() + "/smaps"));
        assertTrue(!smaps.contains(" uw"), "no VMA is left registered with a userfaultfd");
        p.assertIntact(p.pid());
    }

    @Test
    void prevImagesDirThatDoesNotExistIsRefused() throws Exception {
        try (PatternProgram p = PatternProgram.start(tmp, 1)) {
            CryoException e = assertThrows(CryoException.class,
                    () -> Incremental.dump(p.pid(), tmp.resolve("d"), tmp.resolve("nothing-here"), false, true));
            assertEquals("cannot dump pid " + p.pid() + ": --prev-images-dir " + tmp.resolve("nothing-here")
                    + ": no such images directory", e.getMessage());
            assertUntouched(p);
        }
    }

    @Test
    void prevImagesDirOfAnotherProcessIsRefused() throws Exception {
        try (PatternProgram a = PatternProgram.start(tmp.resolve("a").toFile().mkdirs() ? tmp.resolve("a") : tmp, 1);
             PatternProgram b = PatternProgram.start(tmp.resolve("b").toFile().mkdirs() ? tmp.resolve("b") : tmp, 2)) {
            System.setProperty("cryo.trackers", "content-hash");
            Incremental.preDump(a.pid(), tmp.resolve("pre-a"), null);
            CryoException e = assertThrows(CryoException.class,
                    () -> Incremental.preDump(b.pid(), tmp.resolve("pre-b"), tmp.resolve("pre-a")));
            assertTrue(e.getMessage().contains("holds the images of pid " + a.pid() + ", not of pid " + b.pid()),
                    e.getMessage());
            assertUntouched(b);
        }
    }

    @Test
    void brokenChainIsRefused() throws Exception {
        System.setProperty("cryo.trackers", "content-hash");
        try (PatternProgram p = PatternProgram.start(tmp, 3)) {
            Incremental.preDump(p.pid(), tmp.resolve("one"), null);
            p.writeRandomPages(5);
            Incremental.preDump(p.pid(), tmp.resolve("two"), tmp.resolve("one"));
            Files.delete(tmp.resolve("one/pages-1.img"));
            CryoException e = assertThrows(CryoException.class,
                    () -> Incremental.dump(p.pid(), tmp.resolve("three"), tmp.resolve("two"), false, false));
            assertTrue(e.getMessage().startsWith("cannot dump pid " + p.pid() + ": --prev-images-dir ")
                    && e.getMessage().contains("broken chain") && e.getMessage().contains("pages-1.img"), e.getMessage());
            assertUntouched(p);
        }
    }

    @Test
    void trackMemWithNoTrackerAvailableIsRefused() throws Exception {
        assumeFalse(SoftDirty.probe().present(), "this kernel has soft-dirty, so a tracker is available");
        System.setProperty("cryo.trackers", "soft-dirty");
        try (PatternProgram p = PatternProgram.start(tmp, 4)) {
            CryoException e = assertThrows(CryoException.class,
                    () -> Incremental.dump(p.pid(), tmp.resolve("d"), null, true, true));
            assertTrue(e.getMessage().startsWith("cannot dump pid " + p.pid()
                    + ": --track-mem: no memory tracker is available (soft-dirty: "), e.getMessage());
            assertUntouched(p);
        }
    }

    @Test
    void aFinalDumpEndsTheUserfaultfdKeeper() throws Exception {
        IncrementalChainTest.assumeTracker("uffd-wp");
        System.setProperty("cryo.trackers", "uffd-wp");
        try (PatternProgram p = PatternProgram.start(tmp, 5)) {
            long start = UffdKeeper.startTime(p.pid());
            Incremental.preDump(p.pid(), tmp.resolve("pre"), null);
            assertEquals(1, UffdKeeper.of(p.pid(), start).size(), "one keeper after the pre-dump");
            assertTrue(Files.readString(Path.of("/proc/" + p.pid() + "/fd/../status")).contains("TracerPid:\t0"));
            assertTrue(Files.list(Path.of("/proc/" + p.pid() + "/fd")).noneMatch(f -> {
                try {
                    return Files.readSymbolicLink(f).toString().contains("userfaultfd");
                } catch (java.io.IOException x) {
                    return false;
                }
            }), "the program holds no userfaultfd of Cryo's");
            Incremental.preDump(p.pid(), tmp.resolve("pre2"), tmp.resolve("pre"));
            assertEquals(1, UffdKeeper.of(p.pid(), start).size(), "still one keeper: the earlier one ended");
            Incremental.dump(p.pid(), tmp.resolve("final"), tmp.resolve("pre2"), false, true);
            assertTrue(UffdKeeper.of(p.pid(), start).isEmpty(), "no keeper after a dump without --track-mem");
            assertTrue(!Files.readString(Path.of("/proc/" + p.pid() + "/smaps")).contains(" uw"),
                    "no VMA left registered");
        }
    }
}
