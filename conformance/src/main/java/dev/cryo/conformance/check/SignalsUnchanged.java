package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.proc.ProcSnapshot.TaskRow;
import dev.cryo.conformance.run.Run;
import java.util.List;

/**
 * Every task's pending, blocked, ignored and caught signal sets are the same after the cycle. A pending signal that
 * its thread (or, for the process's shared set, every thread) does not block is on its way to a handler: it is
 * there or not depending on when /proc is read (a 20 ms POSIX timer's signal, under load), so only the pending
 * signals that are blocked, which stay until unblocked, are compared.
 */
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

    static List<String> rows(List<TaskRow> tasks) {
        java.util.Map<Integer, Long> blockedByAll = new java.util.HashMap<>();
        for (TaskRow t : tasks) {
            blockedByAll.merge(t.pid(), mask(t.sigBlk()), (a, b) -> a & b);
        }
        return tasks.stream().map(t -> "tid " + t.tid() + " pending " + hex(mask(t.sigPnd()) & mask(t.sigBlk()))
                + " shared " + hex(mask(t.shdPnd()) & blockedByAll.get(t.pid()))
                + " blocked " + t.sigBlk() + " ignored " + t.sigIgn() + " caught " + t.sigCgt()).toList();
    }

    private static long mask(String hex) {
        return Long.parseUnsignedLong(hex, 16);
    }

    private static String hex(long mask) {
        return String.format("%016x", mask);
    }
}
