package dev.cryo.engine.check;

import dev.cryo.engine.sys.probe.Finding;

import java.util.ArrayList;
import java.util.List;

/**
 * The outcome of {@code cryo check}: a line per feature, the dirty-page trackers, and the verdict.
 * Dump and restore work when every required feature is present.
 */
public record CheckReport(List<Result> results, List<String> trackers) {
    /** One probed feature. */
    public record Result(Feature feature, Finding finding) {
    }

    public List<Result> missingRequired() {
        return results.stream()
                .filter(r -> r.feature().need() == Feature.Need.REQUIRED && !r.finding().present())
                .toList();
    }

    public boolean canDumpAndRestore() {
        return missingRequired().isEmpty();
    }

    public int exitCode() {
        return canDumpAndRestore() ? 0 : 1;
    }

    /** The lines {@code cryo check} prints, CRIU's verdict wording last. */
    public List<String> lines() {
        int width = 0;
        for (Result r : results) {
            width = Math.max(width, r.feature().featureName().length());
        }
        List<String> lines = new ArrayList<>();
        for (Result r : results) {
            lines.add(String.format("%-" + width + "s  %-3s  %s", r.feature().featureName(),
                    r.finding().present() ? "yes" : "no", r.finding().detail()));
        }
        lines.add("Dirty-page trackers: " + String.join(", ", trackers));
        List<Result> missing = missingRequired();
        if (!missing.isEmpty()) {
            List<String> names = missing.stream().map(r -> r.feature().featureName()).toList();
            lines.add("Does not look good: missing " + String.join(", ", names) + ", which dump and restore need.");
            return lines;
        }
        List<String> options = results.stream()
                .filter(r -> r.feature().need() == Feature.Need.FOR_OPTION && !r.finding().present())
                .map(r -> r.feature().purpose() + " (" + r.feature().featureName() + ")")
                .toList();
        lines.add(options.isEmpty() ? "Looks good."
                : "Looks good, but these options will not work: " + String.join(", ", options) + ".");
        return lines;
    }
}
