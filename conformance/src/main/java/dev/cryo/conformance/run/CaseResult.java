package dev.cryo.conformance.run;

import java.time.Duration;
import java.util.List;

/**
 * The result of one case in one sandbox with one engine. {@code failedChecks} names every check
 * that failed (a phase runs all its checks before the case stops), {@code message} says why.
 */
public record CaseResult(String caseName, String sandbox, String engine, Outcome outcome, String message,
                         List<String> failedChecks, Duration took) {

    public CaseResult {
        failedChecks = List.copyOf(failedChecks);
    }

    public static CaseResult skip(String caseName, String sandbox, String engine, String reason) {
        return new CaseResult(caseName, sandbox, engine, Outcome.SKIP, reason, List.of(), Duration.ZERO);
    }

    public boolean passed() {
        return outcome == Outcome.PASS;
    }

    public boolean failedCheck(String check) {
        return failedChecks.contains(check);
    }
}
