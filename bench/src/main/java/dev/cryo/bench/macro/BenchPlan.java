package dev.cryo.bench.macro;

import java.nio.file.Path;
import java.util.List;

/**
 * What one harness run measures: which workloads, into which kinds of directory, how many times, with which tools.
 *
 * @param quick     the short run (fewer sizes, tmpfs only, fewer repetitions)
 * @param reps      measured repetitions per tool, workload and directory (the table shows medians)
 * @param probeMiB  bytes each machine-limit probe moves, in MiB
 * @param root      the repository root (fixtures-c/build, bin/cryo and bench/target are found from it)
 */
public record BenchPlan(boolean quick, List<Workload> workloads, List<TargetDir.Kind> dirs, int reps, int probeMiB,
                        List<CheckpointTool> tools, List<String> absentTools, Path root) {
    public static BenchPlan quick(Path root, List<CheckpointTool> tools, List<String> absent) {
        return new BenchPlan(true, List.of(Workload.counter(), Workload.threads(64), Workload.memory(64),
                Workload.memory(256), Workload.tree(100)), List.of(TargetDir.Kind.TMPFS), 2, 256, tools, absent, root);
    }

    public static BenchPlan full(Path root, List<CheckpointTool> tools, List<String> absent) {
        return new BenchPlan(false, List.of(Workload.counter(), Workload.threads(64), Workload.memory(64),
                Workload.memory(256), Workload.memory(1024), Workload.tree(100)), List.of(TargetDir.Kind.TMPFS, TargetDir.Kind.DISK), 3, 1024, tools, absent, root);
    }

    /** The same plan with only the workloads whose name matches {@code regex} (BENCH_ROWS=tree, for one row). */
    public BenchPlan only(String regex) {
        java.util.regex.Pattern p = java.util.regex.Pattern.compile(regex);
        return new BenchPlan(quick, workloads.stream().filter(w -> p.matcher(w.name()).find()).toList(), dirs, reps,
                probeMiB, tools, absentTools, root);
    }

    /** The same plan with {@code n} measured repetitions (BENCH_REPS). */
    public BenchPlan withReps(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("BENCH_REPS must be at least 1, got " + n);
        }
        return new BenchPlan(quick, workloads, dirs, n, probeMiB, tools, absentTools, root);
    }

    public Path fixturesDir() {
        return root.resolve("fixtures-c/build");
    }

    public Path targetDir() {
        return root.resolve("bench/target");
    }

    public Path resultsDir() {
        return targetDir().resolve("bench-results");
    }

    /** Largest image any run writes, plus room for the dd probe. */
    public long largestWorkloadBytes() {
        return workloads.stream().mapToLong(Workload::nominalBytes).max().orElse(0);
    }
}
