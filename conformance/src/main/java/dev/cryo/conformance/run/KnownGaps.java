package dev.cryo.conformance.run;

import dev.cryo.conformance.engine.Feature;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Judges a case that needs a feature its engine declares as a known gap. It ran anyway: a clear
 * "not supported" refusal at the first command, with the process left as it was, is {@code xfail};
 * a pass is {@code xpass} (the gap is stale); anything else stays a failure.
 */
public final class KnownGaps {
    // "not supported", or Cryo's "..., which Cryo cannot dump yet" for a kind of resource it refuses
    private static final Pattern NOT_SUPPORTED = Pattern.compile(
            "(?i)\\bnot (yet )?supported\\b|\\bunsupported\\b|\\bcannot (dump|restore) yet\\b");

    private KnownGaps() {
    }

    /** The gaps of {@code engineGaps} that {@code needs} hits. */
    public static Set<Feature> hit(Set<Feature> needs, Set<Feature> engineGaps) {
        Set<Feature> hit = EnumSet.noneOf(Feature.class);
        needs.stream().filter(engineGaps::contains).forEach(hit::add);
        return hit;
    }

    public static CaseResult classify(CaseResult raw, Set<Feature> needs, Set<Feature> engineGaps,
                                      Optional<Refusal> refusal) {
        Set<Feature> hit = hit(needs, engineGaps);
        if (hit.isEmpty()) {
            return raw;
        }
        String gaps = Feature.labels(hit);
        return switch (raw.outcome()) {
            case PASS -> with(raw, Outcome.XPASS, "passed, but engine " + raw.engine() + " declares the known gap ("
                    + gaps + ") this case needs: remove it from the engine's known gaps", List.of("known-gap"));
            case FAIL -> refusal.filter(r -> clearRefusal(raw, r)).map(r -> with(raw, Outcome.XFAIL,
                    "known gap (" + gaps + "), refused: " + r.text(), List.of()))
                    .orElseGet(() -> with(raw, Outcome.FAIL, "needs the known gap (" + gaps
                            + ") but was not refused cleanly: " + raw.message(), raw.failedChecks()));
            default -> raw;
        };
    }

    /** The engine alone failed, in its own words saying "not supported", and the process carried on untouched. */
    static boolean clearRefusal(CaseResult raw, Refusal refusal) {
        return raw.failedChecks().equals(List.of("engine")) && refusal.processUntouched()
                && NOT_SUPPORTED.matcher(refusal.text()).find();
    }

    private static CaseResult with(CaseResult raw, Outcome outcome, String message, List<String> failedChecks) {
        return new CaseResult(raw.caseName(), raw.sandbox(), raw.engine(), outcome, message, failedChecks, raw.took());
    }
}
