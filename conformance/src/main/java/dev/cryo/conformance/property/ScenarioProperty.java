package dev.cryo.conformance.property;

import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.cases.Fixture;
import dev.cryo.conformance.cases.Scenario;
import dev.cryo.conformance.check.Check;
import dev.cryo.conformance.run.CaseResult;
import dev.cryo.conformance.run.Outcome;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Predicate;
import org.quicktheories.QuickTheory;
import org.quicktheories.api.AsString;
import org.quicktheories.core.Configuration;
import org.quicktheories.core.Gen;
import org.quicktheories.core.NoGuidance;
import org.quicktheories.core.Reporter;
import org.quicktheories.core.Strategy;

/**
 * A property over scenarios: for every scenario the generator makes, the fixture passes every check.
 * QuickTheories draws the scenarios from a seed; a failure is shrunk to the smallest failing scenario,
 * and the same seed replays the same scenarios ({@code make conformance SEED=...}). A property runs
 * at least {@code minExamples} scenarios, whatever the suite's example count.
 */
public record ScenarioProperty(String name, Fixture fixture, Gen<Scenario> scenarios, List<Check> checks,
                               int minExamples, Function<Scenario, List<Scenario>> argSimplifications) {
    private static final int MAX_SIMPLIFICATIONS = 8;

    public ScenarioProperty(String name, Fixture fixture, Gen<Scenario> scenarios, List<Check> checks) {
        this(name, fixture, scenarios, checks, 0);
    }

    public ScenarioProperty(String name, Fixture fixture, Gen<Scenario> scenarios, List<Check> checks,
                            int minExamples) {
        this(name, fixture, scenarios, checks, minExamples, s -> List.of());
    }

    /** What a property run found; {@code smallest} is the shrunk failing scenario, when one failed. */
    public record Finding(boolean held, int examples, String smallest, String failure) {
    }

    /** The case of one drawn scenario: the fixture gets the scenario's own arguments too (a drawn tree, say). */
    public Case caseFor(Scenario scenario) {
        Fixture f = fixture;
        if (!scenario.fixtureArgs().isEmpty()) {
            List<String> args = new java.util.ArrayList<>(fixture.args());
            args.addAll(scenario.fixtureArgs());
            f = new Fixture(fixture.binary(), args, fixture.output(), fixture.stepMillis());
        }
        return new Case(name, f, scenario, checks);
    }

    /**
     * Checks the property; {@code runCase} runs one scenario as a case. Shrinking reruns cases, so it is
     * bounded by {@code shrinkCycles}.
     */
    public Finding checkCases(long seed, int examples, int shrinkCycles, Function<Case, CaseResult> runCase) {
        Map<String, CaseResult> results = new LinkedHashMap<>();
        Predicate<Scenario> holds = scenario -> {
            CaseResult result = runCase.apply(caseFor(scenario));
            results.put(scenario.toString(), result);
            return !result.outcome().failing();
        };
        return check(seed, examples, shrinkCycles, holds, results);
    }

    /** The property over a plain predicate (tests use it to pin shrinking and replay). */
    public Finding check(long seed, int examples, int shrinkCycles, Predicate<Scenario> holds) {
        return check(seed, examples, shrinkCycles, holds, Map.of());
    }

    private Finding check(long seed, int examples, int shrinkCycles, Predicate<Scenario> holds,
                          Map<String, CaseResult> results) {
        FirstFalsification reporter = new FirstFalsification();
        int[] ran = {0};
        QuickTheory.qt(() -> new Strategy(Configuration.defaultPRNG(seed), examples, 0, shrinkCycles, 100, reporter,
                        prng -> new NoGuidance()))
                .forAll(scenarios)
                .check(s -> {
                    ran[0]++;
                    return holds.test(s);
                });
        if (reporter.smallest == null) {
            return new Finding(true, ran[0], null, null);
        }
        Scenario smallest = simplify(simplify(reporter.smallest, holds, Scenario::simplifications), holds,
                argSimplifications);
        CaseResult result = results.get(smallest.toString());
        String why = result != null ? result.message() : "the property does not hold";
        return new Finding(false, ran[0], smallest.toString(), why);
    }

    /**
     * QuickTheories shrinks one drawn number at a time, and each try here costs a whole case: with few
     * shrink cycles it stops early. A few greedy steps along {@link Scenario#simplifications()}, then along the
     * property's own simpler fixture arguments (fewer fds, say), finish it.
     */
    private static Scenario simplify(Scenario failing, Predicate<Scenario> holds,
                                     Function<Scenario, List<Scenario>> simplifications) {
        Scenario best = failing;
        for (int tries = 0; tries < MAX_SIMPLIFICATIONS; ) {
            Scenario next = null;
            for (Scenario simpler : simplifications.apply(best)) {
                if (tries++ >= MAX_SIMPLIFICATIONS) {
                    break;
                }
                if (!holds.test(simpler)) {
                    next = simpler;
                    break;
                }
            }
            if (next == null) {
                break;
            }
            best = next;
        }
        return best;
    }

    /** Keeps what QuickTheories found instead of throwing, so the suite can report it in its table. */
    private static final class FirstFalsification implements Reporter {
        private Scenario smallest;

        @Override
        public void falisification(long seed, int examplesUsed, Object smallest, Throwable cause,
                                   List<Object> examples, AsString<Object> toString) {
            this.smallest = (Scenario) smallest;
        }

        @Override
        public void falisification(long seed, int examplesUsed, Object smallest, List<Object> examples,
                                   AsString<Object> toString) {
            this.smallest = (Scenario) smallest;
        }

        @Override
        public void valuesExhausted(int examplesUsed) {
            // nothing to report: every generated example ran
        }
    }
}
