package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.run.Run;

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
        SnapshotDiff diff = SnapshotDiff.of(before.normalisedFds(), after.normalisedFds());
        if (!diff.same()) {
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": " + diff.describe("fds"));
        }
    }
}
