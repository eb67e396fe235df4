package dev.cryo.bench.macro;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;
import java.util.function.Predicate;

/** All repetitions of one tool on one workload in one kind of directory; the table shows their medians. */
public record Row(String tool, Workload workload, TargetDir.Kind dir, List<Measurement> reps) {

    public boolean passed() {
        return !reps.isEmpty() && reps.stream().allMatch(Measurement::passed);
    }

    /** The first problem of any repetition, or null. */
    public String problem() {
        if (reps.isEmpty()) {
            return "not run";
        }
        for (Measurement m : reps) {
            if (m.problem() != null) {
                return m.problem();
            }
        }
        return null;
    }

    /** Median of {@code f} over the repetitions for which {@code ok} holds; NaN if none. */
    public double median(Predicate<Measurement> ok, ToDoubleFunction<Measurement> f) {
        List<Double> values = new ArrayList<>();
        for (Measurement m : reps) {
            if (ok.test(m)) {
                values.add(f.applyAsDouble(m));
            }
        }
        return MachineLimits.median(values);
    }

    public double memoryBytes() {
        return median(m -> true, Measurement::memoryBytes);
    }

    public double frozenUs() {
        return median(m -> m.dumped() && m.stats() != null, m -> m.stats().frozenUs());
    }

    public double memdumpUs() {
        return median(m -> m.dumped() && m.stats() != null, m -> m.stats().memdumpUs());
    }

    public double memwriteUs() {
        return median(m -> m.dumped() && m.stats() != null, m -> m.stats().memwriteUs());
    }

    public double pagesWrittenBytes() {
        return median(m -> m.dumped() && m.stats() != null, m -> m.stats().pagesWritten() * 4096.0);
    }

    public double dumpWallNanos() {
        return median(Measurement::dumped, Measurement::dumpWallNanos);
    }

    public double imageBytes() {
        return median(Measurement::dumped, Measurement::imageBytes);
    }

    public double restoreWallNanos() {
        return median(Measurement::restored, Measurement::restoreWallNanos);
    }

    public double restoreTimeUs() {
        return median(m -> m.restored() && m.restoreTimeUs() >= 0, Measurement::restoreTimeUs);
    }
}
