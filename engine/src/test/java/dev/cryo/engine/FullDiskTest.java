package dev.cryo.engine;

import dev.cryo.engine.dump.Dumper;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageChecksums;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.cryo.engine.CounterRoundTripTest.assertCounts;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A dump into a file system that fills up: a clear error naming the file, the target runs on even without -R
 * (it is killed only once every image is written), and the directory holds no partial images, only the mark that
 * makes a restore refuse it.
 */
class FullDiskTest {
    @TempDir
    Path tmp;
    Path small;

    @BeforeEach
    void smallTmpfs() throws Exception {
        Privileges.assumeRootWithPtrace();
        small = tmp.resolve("small");
        Files.createDirectories(small);
        // 64 KiB: the counter's pages alone are more
        int rc = sh("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "cryo-full-disk-test", small.toString());
        if (rc != 0) {
            System.out.println("FullDiskTest skipped: cannot mount a tmpfs here (mount exit " + rc + ")");
        }
        Assumptions.assumeTrue(rc == 0, "cannot mount a tmpfs");
    }

    @AfterEach
    void unmount() throws Exception {
        if (small != null) {
            sh("umount", "-l", small.toString());
        }
    }

    private static int sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }

    /**
     * A counting program ({@code source}) dumped into {@code img} to be killed: the dump must fail naming its pid, and
     * the program count on ({@link #ranOnAndOnlyTheMarkIsLeft}); the dump's message.
     */
    private String failedDumpOfACounter(String name, String source, Path img, String logName) throws Exception {
        Path exe = CProgram.compile(tmp, name, source);
        try (Target t = Target.start(exe, tmp.resolve(logName + ".out"))) {
            t.awaitLines(3);
            Files.createDirectories(img);
            String m;
            try (Log log = Log.toFile(tmp.resolve(logName), 4)) {
                m = assertThrows(CryoException.class,
                        () -> Dumper.dump(Checkpoint.dumpOptions(t.pid(), img, false), log)).getMessage();
            }
            assertTrue(m.contains("pid " + t.pid()), m);
            ranOnAndOnlyTheMarkIsLeft(t, img);
            return m;
        }
    }

    /** After a failed dump: the target counts on, and {@code img} holds only the mark that makes a restore refuse it. */
    private static void ranOnAndOnlyTheMarkIsLeft(Target t, Path img) throws Exception {
        assertTrue(t.alive(), "not killed, though the dump was asked to kill it");
        t.awaitLines(t.lines().size() + 3);
        assertCounts(t.lines());
        try (var s = Files.list(img)) {
            assertEquals(List.of(ImageChecksums.INCOMPLETE), s.map(p -> p.getFileName().toString()).toList(),
                    "no partial images, no room held: only the mark");
        }
    }

    @Test
    void aDumpIntoAFullDiskFailsClearlyAndTheTargetRunsOn() throws Exception {
        Path img = small.resolve("img");
        String m = failedDumpOfACounter("counter", CProgram.counter(5_000), img, "dump.log");
        assertTrue(m.contains("No space left on device") && m.matches(".*" + img + "/[a-z0-9-]+\\.img.*"), m);
        String r = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
        assertTrue(r.contains("did not finish"), r);
    }

    /**
     * Room for the cores, which a dump that kills its tree writes after the kill: held before the kill, so that a
     * directory without it fails the dump while the target can run on (here, each core taken to need 16 MiB).
     */
    @Test
    void aDumpWithoutRoomForItsCoresFailsBeforeTheKill() throws Exception {
        Path dir = tmp.resolve("cores-room");
        Files.createDirectories(dir);
        int rc = sh("mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "cryo-full-disk-test", dir.toString());
        Assumptions.assumeTrue(rc == 0, "cannot mount a tmpfs");
        String before = System.setProperty("cryo.dump.coreBytes", Long.toString(16 << 20));
        try {
            String m = failedDumpOfACounter("counter", CProgram.counter(5_000), dir.resolve("img"), "dump-room.log");
            assertTrue(m.contains("No space left on device") && m.contains("held for the cores"), m);
        } finally {
            if (before == null) {
                System.clearProperty("cryo.dump.coreBytes");
            } else {
                System.setProperty("cryo.dump.coreBytes", before);
            }
            sh("umount", dir.toString());
        }
    }

    /** A counter that holds 24 MiB of its own memory: its pages stream to the file (the mapped route by default). */
    static final String BIG_COUNTER = """
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            #include <sys/mman.h>
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                long size = 24L << 20;
                char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (long i = 0; i < size; i += 4096) memset(m + i, (int)(i >> 12), 4096);
                for (int i = 0;; i++) {
                    printf("%d\\n", i);
                    usleep(5000);
                }
            }
            """;

    /**
     * The pages of a large dump go to a file mapped into Cryo, where a full disk would strike as SIGBUS on first
     * touch; the file's blocks are reserved first, so it is the same clear error as a write's, on tmpfs and on ext4.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}, pages by {1}")
    @org.junit.jupiter.params.provider.CsvSource({"tmpfs, mapped", "ext4, mapped", "tmpfs, splice", "ext4, splice",
            "ext4, write", "ext4, pipe"})
    void aLargeDumpIntoAFullDiskFailsClearlyAndTheTargetRunsOn(String fs, String route) throws Exception {
        String before = System.setProperty("cryo.pages.route", route);
        try {
            largeDumpIntoAFullDisk(fs);
        } finally {
            if (before == null) {
                System.clearProperty("cryo.pages.route");
            } else {
                System.setProperty("cryo.pages.route", before);
            }
        }
    }

    private void largeDumpIntoAFullDisk(String fs) throws Exception {
        Path dir = tmp.resolve("small-" + fs);
        Files.createDirectories(dir);
        int rc;
        if (fs.equals("tmpfs")) {
            rc = sh("mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "cryo-full-disk-test", dir.toString());
        } else {
            Path device = tmp.resolve("ext4.img");
            rc = sh("truncate", "-s", "16M", device.toString());
            rc = rc != 0 ? rc : sh("mkfs.ext4", "-q", "-F", device.toString());
            rc = rc != 0 ? rc : sh("mount", "-o", "loop", device.toString(), dir.toString());
        }
        if (rc != 0) {
            System.out.println("FullDiskTest (" + fs + ") skipped: cannot make and mount a small " + fs + " here (exit " + rc + ")");
        }
        Assumptions.assumeTrue(rc == 0, "cannot mount a small " + fs);
        try {
            Path img = dir.resolve("img");
            String m = failedDumpOfACounter("big-counter", BIG_COUNTER, img, "dump-" + fs + ".log");
            assertTrue(m.contains("No space left on device")
                    && m.matches(".*" + img + "/[a-z0-9-]+\\.img.*"), m); // the pages', or one written beside them
            String r = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
            assertTrue(r.contains("did not finish"), r);
        } finally {
            sh("umount", dir.toString());
        }
    }
}
