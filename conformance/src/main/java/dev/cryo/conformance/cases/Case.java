package dev.cryo.conformance.cases;

import dev.cryo.conformance.check.Check;
import dev.cryo.conformance.engine.Feature;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A conformance case is data: a fixture, a scenario, the checks that judge the run, and the features
 * it needs beyond a single-threaded process (matched against the engine's known gaps).
 * In fixture arguments, {@code {build}} stands for the fixtures' build directory.
 */
public record Case(String name, Fixture fixture, Scenario scenario, List<Check> checks, Set<Feature> needs,
                   App app) {
    public Case {
        checks = List.copyOf(checks);
        needs = Set.copyOf(needs);
    }

    public Case(String name, Fixture fixture, Scenario scenario, List<Check> checks, Set<Feature> needs) {
        this(name, fixture, scenario, checks, needs, null);
    }

    public Case(String name, Fixture fixture, Scenario scenario, List<Check> checks) {
        this(name, fixture, scenario, checks, Set.of());
    }

    /** A case of a real program (the {@code apps} group) instead of a C fixture. */
    public static Case ofApp(String name, App app, Scenario scenario, List<Check> checks) {
        return new Case(name, Fixture.quiet(app.program()), scenario, checks, Set.of(), app);
    }

    /** The real program this case runs, if it is not a fixture's case. */
    public java.util.Optional<App> program() {
        return java.util.Optional.ofNullable(app);
    }

    public Case needing(Feature first, Feature... more) {
        Set<Feature> all = EnumSet.of(first, more);
        all.addAll(needs);
        return new Case(name, fixture, scenario, checks, all, app);
    }

    @Override
    public String toString() {
        return name + " [" + (app != null ? app : fixture) + "; " + scenario + "]";
    }
}
