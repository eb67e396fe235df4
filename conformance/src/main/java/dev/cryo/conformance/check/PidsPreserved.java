package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.proc.ProcSnapshot.TaskRow;
import dev.cryo.conformance.run.Run;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/** Every pid and tid of the tree is the same after the cycle, and so is every parent inside the tree. */
public final class PidsPreserved implements Check {
    private final boolean processesOnly;

    public PidsPreserved() {
        this(false);
    }

    private PidsPreserved(boolean processesOnly) {
        this.processesOnly = processesOnly;
    }

    /**
     * Every process's pid and parent, but not every thread's tid: for programs whose thread pools start and end
     * threads on their own between the harness's look at /proc and the freeze.
     */
    public static PidsPreserved processesOnly() {
        return new PidsPreserved(true);
    }

    @Override
    public String name() {
        return "pids";
    }

    @Override
    public void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
        Set<String> lost = new TreeSet<>(ids(before));
        lost.removeAll(ids(after));
        Set<String> gained = new TreeSet<>(ids(after));
        gained.removeAll(ids(before));
        if (!lost.isEmpty() || !gained.isEmpty()) {
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": pid/tid " + lost + " missing after the cycle"
                    + (gained.isEmpty() ? "" : ", unexpected " + gained) + " (tree of pid " + run.pid() + ")");
        }
        Map<Integer, Integer> parents = new TreeMap<>();
        before.tasks().forEach(t -> parents.put(t.pid(), t.ppid()));
        for (TaskRow t : after.tasks()) {
            if (t.pid() != run.pid() && parents.get(t.pid()) != t.ppid()) {
                throw new CheckFailure(name(), "cycle " + run.cycle() + ": pid " + t.pid() + " has parent " + t.ppid()
                        + ", was " + parents.get(t.pid()));
            }
        }
    }

    private Set<String> ids(ProcSnapshot snapshot) {
        if (!processesOnly) {
            return snapshot.taskIds();
        }
        Set<String> pids = new TreeSet<>();
        snapshot.pids().forEach(p -> pids.add(Integer.toString(p)));
        return pids;
    }
}
