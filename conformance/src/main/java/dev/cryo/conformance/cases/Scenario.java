package dev.cryo.conformance.cases;

import java.time.Duration;
import java.util.List;

/**
 * What the harness does to a fixture: {@code cycles} times, wait {@code dumpAfter}, run
 * {@code preDumps} pre-dumps (applying one {@link PageWrite} after each, when given), dump, then
 * restore. With {@code leaveRunning} the dump takes {@code -R} and the original goes on; then
 * {@code restoreAfterLeaveRunning} kills it and restores from the images anyway.
 */
public record Scenario(int cycles, int preDumps, List<PageWrite> writes, boolean leaveRunning,
                       boolean restoreAfterLeaveRunning, Duration dumpAfter, List<String> dumpOptions,
                       List<String> restoreOptions, List<String> fixtureArgs) {

    public Scenario {
        if (cycles < 1 || preDumps < 0) {
            throw new IllegalArgumentException("a scenario needs at least one cycle and no negative pre-dumps");
        }
        writes = List.copyOf(writes);
        dumpOptions = List.copyOf(dumpOptions);
        restoreOptions = List.copyOf(restoreOptions);
        fixtureArgs = List.copyOf(fixtureArgs);
    }

    public Scenario(int cycles, int preDumps, List<PageWrite> writes, boolean leaveRunning,
                    boolean restoreAfterLeaveRunning, Duration dumpAfter, List<String> dumpOptions,
                    List<String> restoreOptions) {
        this(cycles, preDumps, writes, leaveRunning, restoreAfterLeaveRunning, dumpAfter, dumpOptions, restoreOptions,
                List.of());
    }

    /** The same scenario on a fixture given {@code args} beyond its own (a property's drawn tree, say). */
    public Scenario withFixtureArgs(List<String> args) {
        return new Scenario(cycles, preDumps, writes, leaveRunning, restoreAfterLeaveRunning, dumpAfter, dumpOptions,
                restoreOptions, args);
    }

    /** {@code cycles} plain dump and restore cycles, each after {@code dumpAfter}. */
    public static Scenario cycles(int cycles, Duration dumpAfter) {
        return new Scenario(cycles, 0, List.of(), false, false, dumpAfter, List.of(), List.of());
    }

    public Scenario withPreDumps(int count, List<PageWrite> writesBetween) {
        return new Scenario(cycles, count, writesBetween, leaveRunning, restoreAfterLeaveRunning, dumpAfter,
                dumpOptions, restoreOptions, fixtureArgs);
    }

    public Scenario leavingRunning(boolean thenRestore) {
        return new Scenario(cycles, preDumps, writes, true, thenRestore, dumpAfter, dumpOptions, restoreOptions, fixtureArgs);
    }

    public Scenario withOptions(List<String> dump, List<String> restore) {
        return new Scenario(cycles, preDumps, writes, leaveRunning, restoreAfterLeaveRunning, dumpAfter, dump, restore, fixtureArgs);
    }

    /**
     * Scenarios one step simpler than this one (one cycle, a pre-dump less, no VMA changes, no page writes, no -R,
     * dump at once), simplest first: what a failure is shrunk through after QuickTheories.
     */
    public List<Scenario> simplifications() {
        List<Scenario> simpler = new java.util.ArrayList<>();
        if (cycles > 1) {
            simpler.add(new Scenario(1, preDumps, writes, leaveRunning, restoreAfterLeaveRunning, dumpAfter, dumpOptions,
                    restoreOptions, fixtureArgs));
        }
        if (preDumps > 0) {
            simpler.add(new Scenario(cycles, preDumps - 1, writes.subList(0, Math.min(writes.size(), preDumps - 1)),
                    leaveRunning, restoreAfterLeaveRunning, dumpAfter, dumpOptions, restoreOptions, fixtureArgs));
        }
        for (int i = 0; i < writes.size(); i++) {
            for (int c = 0; c < writes.get(i).vmaChanges().size(); c++) {
                simpler.add(withWrite(i, writes.get(i).withoutVmaChange(c)));
            }
        }
        if (writes.stream().anyMatch(w -> !w.vmaChanges().isEmpty())) {
            simpler.add(new Scenario(cycles, preDumps, writes.stream().map(PageWrite::withoutVmaChanges).toList(),
                    leaveRunning, restoreAfterLeaveRunning, dumpAfter, dumpOptions, restoreOptions, fixtureArgs));
        }
        if (!writes.isEmpty()) {
            simpler.add(new Scenario(cycles, preDumps, List.of(), leaveRunning, restoreAfterLeaveRunning, dumpAfter,
                    dumpOptions, restoreOptions, fixtureArgs));
        }
        if (leaveRunning) {
            simpler.add(new Scenario(cycles, preDumps, writes, false, false, dumpAfter, dumpOptions, restoreOptions, fixtureArgs));
        }
        if (!dumpAfter.isZero()) {
            simpler.add(new Scenario(cycles, preDumps, writes, leaveRunning, restoreAfterLeaveRunning, Duration.ZERO,
                    dumpOptions, restoreOptions, fixtureArgs));
        }
        return simpler;
    }

    private Scenario withWrite(int index, PageWrite write) {
        List<PageWrite> changed = new java.util.ArrayList<>(writes);
        changed.set(index, write);
        return new Scenario(cycles, preDumps, changed, leaveRunning, restoreAfterLeaveRunning, dumpAfter, dumpOptions,
                restoreOptions, fixtureArgs);
    }

    /** Marks a restore option that is a word of the launcher the restore runs under instead (see {@link #launcher}). */
    static final String VIA = "via:";

    /**
     * The same scenario with its restores run under {@code launcher} (a fixture's program that opens the fds the
     * restorer must hold, for {@code --inherit-fd}, then runs the engine's command line given after it). Its words,
     * like the options, may use {@code {work}}, {@code {build}} and {@code {file:NAME}}.
     */
    public Scenario restoringVia(List<String> launcher) {
        List<String> restore = new java.util.ArrayList<>(launcher.stream().map(w -> VIA + w).toList());
        restore.addAll(restoreOptions);
        return withOptions(dumpOptions, restore);
    }

    /** The launcher's words among restore options ({@link #restoringVia}); none for most scenarios. */
    public static List<String> launcher(List<String> restoreOptions) {
        return restoreOptions.stream().filter(o -> o.startsWith(VIA)).map(o -> o.substring(VIA.length())).toList();
    }

    public static List<String> withoutLauncher(List<String> restoreOptions) {
        return restoreOptions.stream().filter(o -> !o.startsWith(VIA)).toList();
    }

    /** Whether each cycle ends in a restore (else the original process carries on after {@code dump -R}). */
    public boolean restores() {
        return !leaveRunning || restoreAfterLeaveRunning;
    }

    /** The write applied after pre-dump {@code index} (0-based), if any. */
    public PageWrite writeAfterPreDump(int index) {
        return index < writes.size() ? writes.get(index) : null;
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder(cycles + " cycle" + (cycles == 1 ? "" : "s"));
        if (preDumps > 0) {
            s.append(", ").append(preDumps).append(" pre-dump").append(preDumps == 1 ? "" : "s");
        }
        if (!writes.isEmpty()) {
            s.append(", writes ").append(writes);
        }
        if (leaveRunning) {
            s.append(restoreAfterLeaveRunning ? ", -R then kill and restore" : ", -R");
        }
        s.append(", dump after ").append(dumpAfter.toMillis()).append(" ms");
        if (!dumpOptions.isEmpty()) {
            s.append(", dump ").append(String.join(" ", dumpOptions));
        }
        if (!restoreOptions.isEmpty()) {
            s.append(", restore ").append(String.join(" ", restoreOptions));
        }
        if (!fixtureArgs.isEmpty()) {
            s.append(", fixture ").append(String.join(" ", fixtureArgs));
        }
        return s.toString();
    }
}
