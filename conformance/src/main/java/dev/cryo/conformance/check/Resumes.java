package dev.cryo.conformance.check;

import static org.awaitility.Awaitility.await;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.proc.ProcSnapshot.TaskRow;
import dev.cryo.conformance.run.Run;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.core.ConditionTimeoutException;

/**
 * The tree runs after the cycle: no task is left stopped (T) or in a tracing stop (t), except a task that was
 * stopped (T) before the dump, which must come back stopped.
 */
public final class Resumes implements Check {
    private static final Duration SETTLE = Duration.ofSeconds(3);

    @Override
    public String name() {
        return "resumes";
    }

    @Override
    public void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
        java.util.Set<Integer> stoppedBefore = before.tasks().stream().filter(t -> t.state().equals("T"))
                .map(TaskRow::tid).collect(java.util.stream.Collectors.toSet());
        AtomicReference<List<TaskRow>> stopped = new AtomicReference<>(stoppedTasks(after, stoppedBefore));
        if (stopped.get().isEmpty()) {
            return;
        }
        try {
            // an engine may still be detaching when it returns; a task stopped for good stays stopped
            await("tree of pid " + run.pid() + " running").atMost(SETTLE).pollInterval(Duration.ofMillis(100))
                    .until(() -> {
                        stopped.set(stoppedTasks(run.probe(), stoppedBefore));
                        return stopped.get().isEmpty();
                    });
        } catch (ConditionTimeoutException e) {
            TaskRow t = stopped.get().get(0);
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": pid " + t.pid() + " tid " + t.tid()
                    + " is stopped (state " + t.state() + ") " + SETTLE.toSeconds() + " s after the cycle");
        }
    }

    private static List<TaskRow> stoppedTasks(ProcSnapshot snapshot, java.util.Set<Integer> stoppedBefore) {
        return snapshot.tasks().stream().filter(TaskRow::stopped)
                .filter(t -> !(t.state().equals("T") && stoppedBefore.contains(t.tid()))).toList();
    }
}
