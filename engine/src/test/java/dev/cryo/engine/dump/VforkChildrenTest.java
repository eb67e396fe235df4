package dev.cryo.engine.dump;

import dev.cryo.engine.log.Log;
import dev.cryo.engine.testing.RootWithPtrace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A process that spawns children all the time through vfork (dash runs each command so; posix_spawn, Python's
 * subprocess and Java's ProcessBuilder do too): between its vfork and its exec a child shares its parent's memory,
 * and a dump that met one there was refused ("processes P and C of its tree share their memory"), at random. The
 * listing now waits for the exec, and a freeze that catches one lets the tree go and dumps it again: dump after dump
 * succeeds, and the shell runs on.
 */
@RootWithPtrace
class VforkChildrenTest {
    @TempDir
    Path tmp;

    @Test
    void aShellSpawningCommandsIsDumpedEveryTime() throws Exception {
        Path dash = Path.of("/bin/dash");
        if (!Files.isExecutable(dash)) {
            System.out.println("SKIPPED: /bin/dash (the shell that spawns by vfork) is not installed");
            assumeTrue(false, "/bin/dash is not installed");
        }
        Path out = tmp.resolve("out");
        // started by a shell, not by this JVM: the JVM's reaper thread would collect the ptrace stops of its own child
        try (var sh = dev.cryo.engine.testing.Target.start(dash, out, "-c", "i=0; while :; do /bin/true; "
                + "i=$((i+1)); [ $((i % 50)) -eq 0 ] && echo $i; done")) {
            int pid = sh.pid();
            await().atMost(Duration.ofSeconds(20)).until(() -> Files.size(out) > 0);
            for (int i = 0; i < 30; i++) {
                Path dir = Files.createDirectory(tmp.resolve("dump-" + i));
                DumpOptions options = new DumpOptions(pid, dir, false, true, false, false, false, false, null, null,
                        Duration.ofSeconds(10));
                try (Log log = Log.toFile(dir.resolve("dump.log"), 4)) {
                    Dumper.dump(options, log);
                }
                assertTrue(Files.exists(dir.resolve("core-" + pid + ".img")), "dump " + i);
            }
            long size = Files.size(out);
            await().atMost(Duration.ofSeconds(20)).until(() -> Files.size(out) > size);
            assertTrue(Files.readString(Path.of("/proc/" + pid + "/status")).contains("TracerPid:\t0\n"));
        }
    }
}
