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

    @Test
    void aDumpIntoAFullDiskFailsClearlyAndTheTargetRunsOn() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(5_000));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            Path img = small.resolve("img");
            Files.createDirectories(img);
            String m;
            try (Log log = Log.toFile(tmp.resolve("dump.log"), 4)) {
                m = assertThrows(CryoException.class,
                        () -> Dumper.dump(Checkpoint.dumpOptions(t.pid(), img, false), log)).getMessage();
            }
            assertTrue(m.contains("pid " + t.pid()) && m.contains("No space left on device")
                    && m.matches(".*" + img + "/[a-z0-9-]+\\.img.*"), m);
            assertTrue(t.alive(), "not killed, though the dump was asked to kill it");
            t.awaitLines(t.lines().size() + 3);
            assertCounts(t.lines());
            try (var s = Files.list(img)) {
                assertEquals(List.of(ImageChecksums.INCOMPLETE), s.map(p -> p.getFileName().toString()).toList(),
                        "no partial images, only the mark");
            }
            String r = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
            assertTrue(r.contains("did not finish"), r);
        }
    }
}
