package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.run.Run;
import java.util.List;

/**
 * Every fd points at the same thing with the same flags after the cycle. Pipes and sockets get new
 * inodes on restore, so they compare by which fds share one.
 */
public final class FdsUnchanged implements Check {

    @Override
    public String name() {
        return "fds";
    }

    @Override
    public void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
        if (after.isEmpty()) {
            return;
        }
        List<String> expected = before.normalisedFds();
        SnapshotDiff diff = SnapshotDiff.of(expected, after.normalisedFds());
        if (diff.same()) {
            return;
        }
        // a program may hold an fd for a moment (opendir of /proc/self/fd, a file it reads and closes); a lost or
        // changed fd stays different
        int reads = SnapshotDiff.stillDifferent(expected, () -> run.probe().normalisedFds());
        if (reads > 0) {
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": " + diff.describe("fds") + " (the same after "
                    + reads + " more reads over " + SnapshotDiff.SETTLE.toMillis() + " ms)");
        }
    }
}
