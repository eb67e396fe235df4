package dev.cryo.bench.macro;

import java.nio.file.Path;
import java.util.List;

/**
 * A fixture in the state it is dumped in: the counter, or the memory fixture holding about {@code nominalBytes}
 * of private pages with deterministic content (checked page by page after the restore).
 *
 * @param name         label in the table and the JSON ("counter", "memory-64M")
 * @param program      fixture binary name in fixtures-c/build
 * @param args         its options
 * @param nominalBytes the memory the options ask for (0 for the counter); the measured figure is in each run
 */
public record Workload(String name, String program, List<String> args, long nominalBytes) {
    static final int PAGE = 4096;
    /** The memory fixture's page-count formula, prime and all. */
    static final long STRIDE = 7919;
    /** The fixture's own bound on mappings (MAX_MAPS in memory.c). */
    static final int MAX_MAPS = 1024;

    public static Workload counter() {
        return new Workload("counter", "counter", List.of("--step-ms=100"), 0);
    }

    /**
     * The threads fixture with {@code n} counting threads besides its main thread (each checks its own count and
     * tid after the restore): what a frozen time per extra thread is measured on, against the one-thread counter.
     */
    public static Workload threads(int n) {
        return new Workload("threads-" + n, "threads", List.of("--threads=" + n, "--step-ms=100"), 0);
    }

    /** Threads besides the main one: {@code n} for threads-n, 0 for every other workload. */
    public int extraThreads() {
        return name.startsWith("threads-") ? Integer.parseInt(name.substring("threads-".length())) : 0;
    }

    /**
     * The process-tree fixture: {@code tasks} processes (ten children a task), each with 1 MiB of private memory of
     * its own, all sharing one 16 MiB shared anonymous mapping; each task checks its own pages, the shared ones and
     * its ids after the restore. Its nominal memory is the tasks' private pages and the shared mapping.
     */
    public static Workload tree(int tasks) {
        return new Workload("tree-" + tasks, "memtree", List.of("--tasks=" + tasks, "--width=10", "--own-kib=1024",
                "--shared-mib=16"), ((long) tasks << 20) + (16L << 20));
    }

    /** Processes besides the root: {@code n - 1} for tree-n, 0 for every other workload. */
    public int extraTasks() {
        return name.startsWith("tree-") ? Integer.parseInt(name.substring("tree-".length())) - 1 : 0;
    }

    /** The memory fixture with at least {@code mib} MiB, and as little more as its formula allows. */
    public static Workload memory(int mib) {
        long target = ((long) mib << 20) / PAGE;
        long[] shape = shapeFor(target);
        String label = mib >= 1024 && mib % 1024 == 0 ? (mib / 1024) + "G" : mib + "M";
        return new Workload("memory-" + label, "memory",
                List.of("--maps=" + shape[0], "--pages=" + shape[1], "--seed=42"), totalPages(shape[0], shape[1]) * PAGE);
    }

    /** Pages the memory fixture maps for --maps=maps --pages=max: mapping k holds 1 + (k * 7919) % max. */
    static long totalPages(long maps, long max) {
        long sum = 0;
        for (long k = 0; k < maps; k++) {
            sum += 1 + (k * STRIDE) % max;
        }
        return sum;
    }

    /** {maps, max} whose total is the smallest at or above {@code target}, for maps in 64..1024 by 16. */
    static long[] shapeFor(long target) {
        long[] best = null;
        long bestTotal = Long.MAX_VALUE;
        for (long maps = 64; maps <= MAX_MAPS; maps += 16) {
            // sizes are spread over 1..max, so the total is near maps * max / 2
            long guess = Math.max(1, 2 * target / maps);
            for (long max = Math.max(1, guess * 9 / 10); max <= guess * 12 / 10 + 2; max++) {
                long total = totalPages(maps, max);
                if (total >= target && total < bestTotal) {
                    bestTotal = total;
                    best = new long[]{maps, max};
                }
            }
        }
        if (best == null) {
            throw new IllegalArgumentException("no memory fixture shape holds " + target + " pages");
        }
        return best;
    }

    public Path binary(Path fixturesDir) {
        return fixturesDir.resolve(program);
    }
}
