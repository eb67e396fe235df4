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
    /** Mappings of the memory fixture; sizes vary between them (see fixtures-c/src/memory.c). */
    static final int MAPS = 256;
    /** The memory fixture's page-count formula, prime and all. */
    static final long STRIDE = 7919;

    public static Workload counter() {
        return new Workload("counter", "counter", List.of("--step-ms=100"), 0);
    }

    /** The memory fixture with at least {@code mib} MiB in {@value #MAPS} mappings. */
    public static Workload memory(int mib) {
        long target = ((long) mib << 20) / PAGE;
        long pages = maxPagesFor(target);
        String label = mib >= 1024 && mib % 1024 == 0 ? (mib / 1024) + "G" : mib + "M";
        return new Workload("memory-" + label, "memory",
                List.of("--maps=" + MAPS, "--pages=" + pages, "--seed=42"), totalPages(pages) * PAGE);
    }

    /** Pages the memory fixture maps for --maps=MAPS --pages=max: mapping k holds 1 + (k * 7919) % max. */
    static long totalPages(long max) {
        long sum = 0;
        for (long k = 0; k < MAPS; k++) {
            sum += 1 + (k * STRIDE) % max;
        }
        return sum;
    }

    /** The smallest --pages for which the fixture maps at least {@code target} pages. */
    static long maxPagesFor(long target) {
        long max = 1;
        while (totalPages(max) < target) {
            max++;
        }
        return max;
    }

    public Path binary(Path fixturesDir) {
        return fixturesDir.resolve(program);
    }
}
