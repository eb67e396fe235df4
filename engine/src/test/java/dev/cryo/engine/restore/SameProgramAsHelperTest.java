package dev.cryo.engine.restore;

import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A restore builds its task from a helper running sleep. A dumped sleep maps that same file again, and the kernel
 * refuses (EBUSY) to set an exe file while the old one is still mapped: the restore must keep it instead.
 */
@RootWithPtrace
class SameProgramAsHelperTest {
    @TempDir
    Path tmp;

    @Test
    void dumpedSleepIsRestoredWithItsOwnExe() throws Exception {
        Path sleep = Files.isExecutable(Path.of("/usr/bin/sleep")) ? Path.of("/usr/bin/sleep") : Path.of("/bin/sleep");
        Path img = tmp.resolve("img");
        try (Target t = Target.start(sleep, tmp.resolve("out.txt"), "1000")) {
            // the shell's background child is a fork of the shell until it has exec'd sleep
            String exe = sleep.toRealPath().toString();
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> exe.equals(Files.readSymbolicLink(Path.of("/proc/" + t.pid() + "/exe")).toString()));
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(img));
            try (Target r = Target.adopt(t.pid(), t.out())) {
                assertTrue(r.alive(), "restored pid " + t.pid() + " runs");
                assertEquals(exe, Files.readSymbolicLink(Path.of("/proc/" + t.pid() + "/exe")).toString());
            }
        }
    }
}
