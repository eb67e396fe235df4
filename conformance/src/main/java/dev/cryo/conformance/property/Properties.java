package dev.cryo.conformance.property;

import static org.quicktheories.generators.SourceDSL.arbitrary;
import static org.quicktheories.generators.SourceDSL.booleans;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;
import static org.quicktheories.generators.SourceDSL.longs;

import dev.cryo.conformance.cases.Fixture;
import dev.cryo.conformance.cases.PageWrite;
import dev.cryo.conformance.cases.Scenario;
import dev.cryo.conformance.cases.VmaChange;
import dev.cryo.conformance.check.Check;
import java.time.Duration;
import java.util.List;
import org.quicktheories.core.Gen;

/** The suite's property-based cases: random dump moments, cycle counts, pre-dump counts and page writes. */
public final class Properties {
    private Properties() {
    }

    public static List<ScenarioProperty> all() {
        return List.of(counterScenarios(), memoryScenarios(), memoryChurn(), trees(), fds());
    }

    /** The fast counter through 1-4 cycles, 0-2 pre-dumps each, dumped at a random moment, sometimes with -R. */
    public static ScenarioProperty counterScenarios() {
        Gen<Scenario> scenarios = integers().between(1, 4).zip(integers().between(0, 2), integers().between(0, 500),
                booleans().all(), (cycles, preDumps, ms, leaveRunning) -> {
                    Scenario s = Scenario.cycles(cycles, Duration.ofMillis(ms)).withPreDumps(preDumps, List.of());
                    return leaveRunning ? s.leavingRunning(false) : s;
                });
        return new ScenarioProperty("property-counter", Fixture.counter("counter", "line", 10), scenarios,
                Check.counting());
    }

    /** The memory fixture through 1-3 cycles with 0-3 pre-dumps, random pages rewritten after each pre-dump. */
    public static ScenarioProperty memoryScenarios() {
        Gen<PageWrite> writes = integers().between(0, 64).zip(longs().between(1, 1000), PageWrite::new);
        Gen<Scenario> scenarios = integers().between(1, 3).zip(integers().between(0, 3),
                lists().of(writes).ofSizeBetween(0, 3), integers().between(0, 300),
                (cycles, preDumps, pageWrites, ms) -> Scenario.cycles(cycles, Duration.ofMillis(ms))
                        .withPreDumps(preDumps, pageWrites.subList(0, Math.min(preDumps, pageWrites.size()))));
        return new ScenarioProperty("property-memory", Fixture.quiet("memory", "--maps=32", "--pages=16"), scenarios,
                Check.standard());
    }

    /**
     * Incremental dumps under a changing address space: 0-5 pre-dumps, and after each one 0-3 of mmap, munmap,
     * mprotect, mremap, then 0-48 pages written; the final dump chains to the last pre-dump. The fixture checks
     * every page after the restore.
     */
    public static ScenarioProperty memoryChurn() {
        Gen<VmaChange> changes = arbitrary().enumValues(VmaChange.Kind.class).zip(longs().between(1, 1000), VmaChange::new);
        Gen<PageWrite> between = integers().between(0, 48).zip(longs().between(1, 1000),
                lists().of(changes).ofSizeBetween(0, 3), PageWrite::new);
        Gen<Scenario> scenarios = integers().between(0, 5).zip(lists().of(between).ofSize(5), integers().between(0, 200),
                (preDumps, steps, ms) -> Scenario.cycles(1, Duration.ofMillis(ms))
                        .withPreDumps(preDumps, steps.subList(0, preDumps)));
        List<Check> checks = Check.standard();
        // QuickTheories' first draws are the simplest (no pre-dump): a few more examples reach real scripts
        return new ScenarioProperty("property-memory-churn", Fixture.quiet("memory", "--maps=16", "--pages=8"), scenarios,
                checks, 5);
    }

    /**
     * Random process trees ({@code randtree}, issue 12): 1 to 30 tasks, 4 levels at most, random sessions and groups
     * (dead leaders among them, whose children the root adopts), zombies, stopped tasks, 0-2 threads per task, pipes
     * from children to parents and a page of shared memory; 1 to 3 cycles, each with 0-1 pre-dump, plain, with
     * {@code -R}, or {@code -R} then kill and restore. Pids, ppids, pgids, sids and states (the harness's checks and
     * each task's own) hold.
     */
    public static ScenarioProperty trees() {
        // one pre-dump at most: a 30-task tree's dump takes seconds here, and CI runs 3 examples
        Gen<Scenario> base = integers().between(1, 3).zip(integers().between(0, 1), integers().between(0, 2),
                integers().between(0, 300), (cycles, preDumps, mode, ms) -> {
                    Scenario s = Scenario.cycles(cycles, Duration.ofMillis(ms)).withPreDumps(preDumps, List.of());
                    return mode == 0 ? s : s.leavingRunning(mode == 2);
                });
        Gen<Scenario> scenarios = base.zip(lists().of(integers().between(0, Integer.MAX_VALUE)).ofSizeBetween(1, 30),
                (s, ops) -> s.withFixtureArgs(TreeSpec.of(ops)));
        return new ScenarioProperty("property-trees", Fixture.quiet("randtree"), scenarios, Check.standard());
    }

    /**
     * Random sets of fds ({@code randfds}, issue 13): 1 to 12 fds of random kinds (eventfd, pipe, unix socketpairs,
     * timerfd, signalfd, inotify, epoll over earlier fds, memfd, FIFO, deleted file, {@code /dev/null}), each with
     * random state (counts, bytes and messages in flight, armed timers, pending signals, watches, seals); 1 to 3
     * cycles, each with 0-1 pre-dump, plain, with {@code -R}, or {@code -R} then kill and restore. Every fd checks
     * itself while the fixture runs (after each restore) and at the verdict, naming the fd that is wrong.
     */
    public static ScenarioProperty fds() {
        Gen<Scenario> base = integers().between(1, 3).zip(integers().between(0, 1), integers().between(0, 2),
                integers().between(0, 300), (cycles, preDumps, mode, ms) -> {
                    Scenario s = Scenario.cycles(cycles, Duration.ofMillis(ms)).withPreDumps(preDumps, List.of());
                    return mode == 0 ? s : s.leavingRunning(mode == 2);
                });
        Gen<Scenario> scenarios = base.zip(lists().of(integers().between(0, Integer.MAX_VALUE)).ofSizeBetween(1, 12),
                (s, ops) -> s.withFixtureArgs(List.of("--fds=" + FdSpec.of(ops))));
        // QuickTheories's first draws are the smallest sets: a few more examples reach a dozen fds of mixed kinds
        // a failure is shrunk to fewer fds too: the report names the fd that fails among as few others as can be
        return new ScenarioProperty("property-fds", Fixture.quiet("randfds"), scenarios, Check.standard(), 6,
                s -> FdSpec.simpler(s.fixtureArgs().get(0).substring("--fds=".length())).stream()
                        .map(fds -> s.withFixtureArgs(List.of("--fds=" + fds))).toList());
    }
}
