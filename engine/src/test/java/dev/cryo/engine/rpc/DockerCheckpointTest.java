package dev.cryo.engine.rpc;

import dev.cryo.engine.testing.Privileges;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Docker 20.10's {@code docker checkpoint create [--leave-running]} and {@code docker start --checkpoint} with Cryo as
 * CRIU, through {@code scripts/docker-checkpoint-try.sh}: a private dockerd in experimental mode (the shared one runs
 * without it and is never touched), Cryo first on its PATH as {@code criu}, the counter container checkpointed with
 * {@code --leave-running} (it runs on, same host pid), then without (it exits), then started from that checkpoint: pid 1
 * under a new host pid, its log 0, 1, 2, ... with nothing missing or repeated. containerd pauses the container (cgroup
 * freezer) before it asks runc for the checkpoint: Cryo thaws it for its ptrace freeze and freezes it again
 * (FrozenCgroupTest). Everything the script made (daemon, containerd, mounts, directories) must be gone after it.
 * engine/docs/containers.md, section Docker.
 */
class DockerCheckpointTest {
    private static final Path SCRIPT = Path.of("..", "scripts", "docker-checkpoint-try.sh").toAbsolutePath().normalize();

    @TempDir
    Path tmp;

    @Test
    void checkpointAndStartFromItCountOnWithCryoAsCriu() throws Exception {
        Privileges.assumeRootWithPtrace();
        assumeTrue(Files.isExecutable(SCRIPT), SCRIPT + " is missing");
        Path criu = CryoAsCriu.write(tmp); // this build's Cryo, as a symlink to bin/cryo would be after a build
        Process p = new ProcessBuilder(SCRIPT.toString(), "--criu", criu.toString()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(900, TimeUnit.SECONDS), "the script finished"); // its steps have time limits of their own
        System.out.println(out);
        if (p.exitValue() == 2) {
            System.out.println("SKIPPED: " + out.strip());
        }
        assumeTrue(p.exitValue() != 2, out.strip()); // not root, or docker.io's binaries missing: the script says which
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("nothing missing or repeated") && out.contains("PASS"), out);

        Matcher m = Pattern.compile("/run/(cryo-docker-try-\\d+)\\.sock").matcher(out);
        assertTrue(m.find(), out);
        String name = m.group(1);
        for (Path left : new Path[] {Path.of("/var/lib", name), Path.of("/run", name), Path.of("/run", name + ".sock")}) {
            assertFalse(Files.exists(left), left + " removed by the script");
        }
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(name), "no mount of " + name + " left");
        assertTrue(ProcessHandle.allProcesses().noneMatch(h -> h.info().commandLine().orElse("").contains("/" + name)),
                "no process of " + name + " left (dockerd, containerd, shims)");
    }
}
