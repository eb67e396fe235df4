package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.proc.ProcSnapshot.TaskRow;
import dev.cryo.conformance.run.Run;
import java.util.List;

/** Every task's pending, blocked, ignored and caught signal sets are the same after the cycle. */
public final class SignalsUnchanged implements Check {

    @Override
    public String name() {
        return "signals";
    }

    @Override
    public void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
        if (after.isEmpty()) {
            return;
        }
        SnapshotDiff diff = SnapshotDiff.of(rows(before.tasks()), rows(after.tasks()));
        if (!diff.same()) {
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": " + diff.describe("signal state"));
        }
    }

    private static List<String> rows(List<TaskRow> tasks) {
        return tasks.stream().map(t -> "tid " + t.tid() + " pending " + t.sigPnd() + " shared " + t.shdPnd()
                + " blocked " + t.sigBlk() + " ignored " + t.sigIgn() + " caught " + t.sigCgt()).toList();
    }
}
