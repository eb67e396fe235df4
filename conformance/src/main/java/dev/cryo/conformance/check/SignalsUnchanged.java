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
 *
 * <p>A mask can be a moment's: a shell in {@code read -t} sits in {@code pselect6}, whose temporary mask blocks
 * SIGCHLD, and comes out of it for a few microseconds each time the timeout ends. When the tree read after the cycle
 * differs, it is read again for up to {@link #SETTLE}: a restored tree that was caught between two such calls matches
 * at the next look, one whose masks were lost never does.
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
        List<String> expected = rows(before.tasks());
        SnapshotDiff diff = SnapshotDiff.of(expected, rows(after.tasks()));
        if (diff.same()) {
            return;
        }
        int reads = SnapshotDiff.stillDifferent(expected, () -> rows(run.probe().tasks()));
        if (reads > 0) {
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": " + diff.describe("signal state")
                    + " (the same after " + reads + " more reads over " + SnapshotDiff.SETTLE.toMillis() + " ms)");
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
