package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.testing.RootWithPtrace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The rehearsal runs beside the target checks: a refused dump still ends with its helper gone. */
@RootWithPtrace
class RehearsalTest {
    @TempDir
    Path tmp;

    @Test
    void aRefusedDumpLeavesNoRehearsalHelperBehind() throws Exception {
        assertTrue(Warmup.ENABLED, "rehearsals are on by default");
        DumpOptions o = new DumpOptions(0x3ffffffd, tmp.resolve("img"), false, false, false, false, false, false,
                null, null, null);
        List<Path> dirsBefore = rehearsalDirs();
        CryoException e = assertThrows(CryoException.class, () -> Dumper.dump(o, Log.discard()));
        assertTrue(e.getMessage().contains("no such process"), e.getMessage());
        assertEquals(List.of(), helpersOfOurs(), "helpers of this JVM still running");
        assertEquals(dirsBefore, rehearsalDirs(), "rehearsal directories left in the temporary directory");
    }

    /**
     * The rehearsal's helper holds the fd kinds programs most have, and its dump takes every one of them: a kind it
     * failed on would leave its code cold in the target's frozen window, silently (a rehearsal never fails a dump).
     */
    @Test
    void theRehearsalDumpsAHelperWithEveryFdKindAndLeavesNothing() throws Exception {
        long fdsBefore = ownFds();
        Path img = tmp.resolve("rehearsal");
        Files.createDirectories(img);
        Warmup.dumpHelper(img, Warmup.ALL_KINDS);
        List<String> types = dev.cryo.image.ImageDir.open(img).files().stream().map(f -> f.getType().name()).sorted().toList();
        for (String kind : List.of("UNIXSK", "INETSK", "EVENTFD", "EVENTPOLL", "PIPE", "TTY")) {
            assertTrue(types.contains(kind), kind + " in the rehearsal's files.img: " + types);
        }
        assertEquals(4, types.stream().filter("UNIXSK"::equals).count(), "two socketpairs: " + types);
        assertEquals(List.of(), helpersOfOurs(), "helpers of this JVM still running");
        assertEquals(fdsBefore, ownFds(), "no fd of the helper's is left open in Cryo");
        // only what the target has: none of them for a target without
        assertEquals(0, Warmup.helperFds(java.util.Set.of()).length);
    }

    private static long ownFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    /** A Cryo killed by SIGKILL leaves its rehearsal directory: the next rehearsal removes it, and only it. */
    @Test
    void aKilledCryosRehearsalDirectoryIsRemovedByTheNext() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Path orphan = Files.createDirectory(tmp.resolve(Warmup.DIR_PREFIX + gone.pid() + "-1f"));
        Files.writeString(orphan.resolve("core-1.img"), "x");
        Path running = Files.createDirectory(tmp.resolve(Warmup.DIR_PREFIX + ProcessHandle.current().pid() + "-2f"));
        Path other = Files.createDirectory(tmp.resolve("cryo-rehearsal-notapid"));
        // a Cryo in another pid namespace: the pid it is named after means nothing here, but it holds its lock
        Path elsewhere = Files.createDirectory(tmp.resolve(Warmup.DIR_PREFIX + gone.pid() + "-3f"));
        int lock = dev.cryo.engine.sys.DirectFiles.tryLockDir(elsewhere.toString());
        try {
            assertEquals(1, Warmup.removeOrphans(tmp.toString()));
        } finally {
            dev.cryo.engine.sys.DirectFiles.unlock(lock);
        }
        assertTrue(!Files.exists(orphan), "the killed Cryo's directory is gone");
        assertTrue(Files.isDirectory(running) && Files.isDirectory(other), "a running Cryo's and a foreign one kept");
        assertTrue(Files.isDirectory(elsewhere), "a locked one kept, whatever its pid");
    }

    private static List<Path> rehearsalDirs() throws IOException {
        try (Stream<Path> s = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            // this JVM's own: other Cryo runs on the machine make and remove theirs meanwhile
            String ours = Warmup.DIR_PREFIX + ProcessHandle.current().pid() + "-";
            return s.filter(p -> p.getFileName().toString().startsWith(ours)).sorted().toList();
        }
    }

    /** Pids whose parent is this JVM and whose command line is the helper's. */
    private static List<Long> helpersOfOurs() throws IOException {
        long self = ProcessHandle.current().pid();
        try (Stream<Path> s = Files.list(Path.of("/proc"))) {
            return s.filter(p -> p.getFileName().toString().matches("\\d+")).filter(p -> {
                try {
                    return Files.readString(p.resolve("cmdline")).startsWith("cryo-helper")
                            && Files.readString(p.resolve("status")).contains("\nPPid:\t" + self + "\n");
                } catch (IOException gone) {
                    return false;
                }
            }).map(p -> Long.parseLong(p.getFileName().toString())).toList();
        }
    }
}
