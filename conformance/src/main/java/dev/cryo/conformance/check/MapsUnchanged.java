package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.proc.ProcSnapshot.MapRow;
import dev.cryo.conformance.run.Run;
import java.util.ArrayList;
import java.util.List;

/**
 * /proc/PID/maps is the same after the cycle: addresses, protections, offsets, files. Coalescing, it
 * first joins adjacent anonymous private mappings with equal protections, which the kernel merges on restore
 * although a program's mremap had left them apart.
 */
public final class MapsUnchanged implements Check {
    private final boolean coalescing;

    public MapsUnchanged() {
        this(false);
    }

    public MapsUnchanged(boolean coalescing) {
        this.coalescing = coalescing;
    }

    /** Adjacent anonymous private mappings with the same protections as one. */
    static List<String> coalesced(List<MapRow> maps) {
        List<MapRow> out = new ArrayList<>();
        for (MapRow m : maps) {
            MapRow last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null && last.pid() == m.pid() && anonymous(last) && anonymous(m) && last.perms().equals(m.perms())
                    && last.range().substring(last.range().indexOf('-') + 1).equals(m.range().substring(0, m.range().indexOf('-')))) {
                out.set(out.size() - 1, new MapRow(m.pid(), last.range().substring(0, last.range().indexOf('-') + 1)
                        + m.range().substring(m.range().indexOf('-') + 1), m.perms(), last.offset(), ""));
            } else {
                out.add(m);
            }
        }
        return out.stream().map(Object::toString).toList();
    }

    private static boolean anonymous(MapRow m) {
        return m.path().isEmpty() && m.perms().endsWith("p") && m.offset().matches("0+");
    }

    @Override
    public String name() {
        return "maps";
    }

    @Override
    public void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
        if (after.isEmpty()) {
            return; // the pids check says the tree is gone
        }
        SnapshotDiff diff = coalescing ? SnapshotDiff.of(coalesced(before.maps()), coalesced(after.maps()))
                : SnapshotDiff.of(before.maps().stream().map(Object::toString).toList(),
                after.maps().stream().map(Object::toString).toList());
        if (!diff.same()) {
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": " + diff.describe("memory maps"));
        }
    }
}
