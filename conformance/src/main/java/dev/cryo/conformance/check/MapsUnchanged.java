package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.run.Run;

/**
 * /proc/PID/maps is the same after the cycle, line for line: addresses, protections, offsets, files. Adjacent
 * anonymous mappings the kernel kept apart must come back apart too.
 */
public final class MapsUnchanged implements Check {
    @Override
    public String name() {
        return "maps";
    }

    @Override
    public void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
        if (after.isEmpty()) {
            return; // the pids check says the tree is gone
        }
        SnapshotDiff diff = SnapshotDiff.of(before.maps().stream().map(Object::toString).toList(),
                after.maps().stream().map(Object::toString).toList());
        if (!diff.same()) {
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": " + diff.describe("memory maps"));
        }
    }
}
