package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.tree.PlanStep;
import dev.cryo.engine.tree.TaskState;
import dev.cryo.engine.tree.TreePlan;
import dev.cryo.engine.tree.TreeTask;
import dev.cryo.image.proto.pstree_entry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tree a dump takes, read from /proc of real processes, and the plan its images would give. */
class ProcessTreeTest {
    private Process shell;

    @AfterEach
    void stop() {
        if (shell != null) {
            shell.descendants().forEach(ProcessHandle::destroyForcibly);
            shell.destroyForcibly();
        }
    }

    /** The tree once it has {@code tasks} tasks, a zombie among them. */
    private Map<Integer, TreeTask> readWhen(int root, int tasks) {
        ProcFs proc = new ProcFs();
        return await().atMost(Duration.ofSeconds(20)).until(() -> ProcessTree.read(proc, root).stream()
                .collect(Collectors.toMap(TreeTask::pid, Function.identity())), m -> m.size() == tasks
                && m.values().stream().anyMatch(t -> t.state() == TaskState.DEAD));
    }

    @Test
    void aShellWithABackgroundGroupAndAZombieIsReadWholeAndPlanned() throws Exception {
        // the shell leads a session; "sleep &" runs in a group of its own (job control), and the subshell
        // that exits 7 stays a zombie of the final sleep, which never waits. The subshell exits only once its parent
        // is that sleep: had it exited before the exec, bash could have reaped it (CI saw no zombie once)
        shell = new ProcessBuilder("setsid", "bash", "-c",
                "set -m; sleep 1000 & exec bash -c '(read -r _ _ _ p _ < /proc/$BASHPID/stat; "
                        + "until read -r c < /proc/$p/comm && [ \"$c\" = sleep ]; do :; done; exit 7) & exec sleep 1000'")
                .start();
        int root = (int) shell.pid();
        Map<Integer, TreeTask> tree = readWhen(root, 3);
        TreeTask top = tree.get(root);
        assertEquals(0, top.ppid(), "the root's parent is outside the tree");
        TreeTask zombie = tree.values().stream().filter(t -> t.state() == TaskState.DEAD).findFirst().orElseThrow();
        assertEquals(7 << 8, zombie.exitCode(), "field 52 of /proc/Z/stat: the wait status");
        TreeTask sleeper = tree.values().stream().filter(t -> t.pid() != root && t.state() == TaskState.ALIVE)
                .findFirst().orElseThrow();
        assertEquals(root, sleeper.ppid());
        assertEquals(sleeper.pid(), sleeper.pgid(), "job control gave the background job its own group");
        assertEquals(top.sid(), sleeper.sid());

        List<pstree_entry> pstree = ProcessTree.pstree(List.copyOf(tree.values()));
        assertEquals(3, pstree.size());
        TreePlan plan = TreePlan.of(List.copyOf(tree.values()), false);
        assertTrue(plan.steps().contains(new PlanStep.BecomeZombie(zombie.pid(), 7 << 8)), plan.toString());
        assertTrue(plan.helpers().isEmpty(), plan.toString());
    }

    @Test
    void aMissingRootIsNamed() {
        assertEquals("cannot dump pid 999999: no such process", org.junit.jupiter.api.Assertions.assertThrows(
                CryoException.class, () -> ProcessTree.read(new ProcFs(), 999999)).getMessage());
    }
}
