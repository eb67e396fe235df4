package dev.cryo.engine.dump;

import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.engine.tree.TreeTask;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Freezing a whole tree, and letting all of it go as it was when any part fails. */
class TreeFreezerTest {
    private final ProcFs proc = new ProcFs();
    @AfterEach
    void stop() {
        if (root > 0) {
            ProcessHandle.of(root).ifPresent(h -> {
                h.descendants().forEach(ProcessHandle::destroyForcibly);
                h.destroyForcibly();
            });
        }
    }

    private int root;

    /**
     * Three sleeps, the root's parent a shell that has exited: the root must not be this JVM's child, whose
     * process reaper would take its ptrace stops.
     */
    private List<Integer> startTree() throws Exception {
        Process launcher = new ProcessBuilder("bash", "-c",
                "(sleep 1000 & sleep 1000 & exec sleep 1000) </dev/null >/dev/null 2>&1 & echo $!").start();
        root = Integer.parseInt(new String(launcher.getInputStream().readAllBytes()).trim());
        launcher.waitFor();
        return await().atMost(Duration.ofSeconds(20)).until(() -> ProcessTree.read(proc, root).stream()
                .filter(t -> commIsSleep(t.pid())).map(TreeTask::pid).toList(), l -> l.size() == 3);
    }

    private boolean commIsSleep(int pid) {
        try {
            return proc.comm(pid).equals("sleep");
        } catch (IOException e) {
            return false;
        }
    }

    private static int tracer(int pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("TracerPid:")) {
                return Integer.parseInt(line.substring(10).trim());
            }
        }
        throw new IOException("no TracerPid in /proc/" + pid + "/status");
    }

    /** Out of its ptrace stop (a detached task leaves it once it is scheduled): asleep or running. */
    private void assertRunsOn(int pid) {
        await().atMost(Duration.ofSeconds(10)).until(() -> "SR".indexOf(proc.stat(pid).state()) >= 0);
    }

    @Test
    void everyProcessOfTheTreeIsFrozenThenLetGo() throws Exception {
        List<Integer> pids = startTree();
        TreeFreezer freezer = new TreeFreezer(proc, Ptrace.O_TRACESYSGOOD);
        Map<Integer, List<Integer>> frozen = freezer.freeze(pids.get(0));
        try {
            assertEquals(pids, List.copyOf(frozen.keySet()), "the root first, then its children");
            for (int pid : pids) {
                // TracerPid names the tracing thread
                assertTrue(Files.exists(Path.of("/proc/self/task/" + tracer(pid))), "pid " + pid + " is frozen by this process");
                assertEquals('t', proc.stat(pid).state(), "pid " + pid + " is in a ptrace stop");
            }
        } finally {
            freezer.release();
        }
        for (int pid : pids) {
            assertEquals(0, tracer(pid), "pid " + pid + " is let go");
            assertRunsOn(pid);
        }
    }

    @Test
    void aFailureInTheTreeLetsEveryFrozenProcessGo() throws Exception {
        List<Integer> pids = startTree();
        TreeFreezer freezer = new TreeFreezer(proc, Ptrace.O_TRACESYSGOOD, pid -> {
            if (pid != root) {
                throw new IOException("injected");
            }
            return proc.children(pid);
        });
        SyscallException e = assertThrows(SyscallException.class, () -> freezer.freeze(root));
        assertTrue(e.getMessage().contains("listing the children of " + pids.get(1)), e.getMessage());
        assertTrue(freezer.frozen().isEmpty());
        for (int pid : pids) {
            assertEquals(0, tracer(pid), "pid " + pid + " is let go");
            assertRunsOn(pid);
        }
    }
}
