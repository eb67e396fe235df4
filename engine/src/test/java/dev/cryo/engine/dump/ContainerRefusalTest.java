package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.testing.RootWithPtrace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A container's init (pid 1 of its own pid namespace, as runc starts it) is refused before it is touched: dumped as
 * a plain process it would be killed for images that cannot give it its pid back.
 */
@RootWithPtrace
class ContainerRefusalTest {
    @TempDir
    Path tmp;

    @Test
    void initOfItsOwnPidNamespaceIsRefusedAndRunsOn() throws Exception {
        Process unshare;
        try {
            unshare = new ProcessBuilder("unshare", "--pid", "--fork", "sleep", "600").start();
        } catch (java.io.IOException e) {
            System.out.println("SKIPPED: unshare (util-linux) is not installed");
            assumeTrue(false, "unshare (util-linux) is not installed");
            return;
        }
        try {
            Path children = Path.of("/proc", Long.toString(unshare.pid()), "task", Long.toString(unshare.pid()), "children");
            await().atMost(Duration.ofSeconds(20)).until(() -> !Files.readString(children).isBlank());
            int sleep = Integer.parseInt(Files.readString(children).strip().split("\\s+")[0]);
            await().atMost(Duration.ofSeconds(20)).until(() ->
                    Files.readString(Path.of("/proc/" + sleep + "/comm")).strip().equals("sleep"));
            DumpOptions options = new DumpOptions(sleep, tmp, false, false, false, false, false, false, null, null,
                    Duration.ofSeconds(10));
            CryoException e = assertThrows(CryoException.class, () -> Dumper.dump(options, Log.discard()));
            assertTrue(e.getMessage().contains("pid namespace of its own") && e.getMessage().contains(sleep + " 1"),
                    e.getMessage());
            assertTrue(ProcessHandle.of(sleep).map(ProcessHandle::isAlive).orElse(false), "it runs on");
            assertTrue(Files.readString(Path.of("/proc/" + sleep + "/status")).lines()
                    .anyMatch(l -> l.startsWith("TracerPid:") && l.endsWith("\t0")), "and nothing traces it");
        } finally {
            unshare.descendants().forEach(ProcessHandle::destroyForcibly); // the namespace's init first
            unshare.destroyForcibly();
            unshare.waitFor(20, TimeUnit.SECONDS);
        }
    }
}
