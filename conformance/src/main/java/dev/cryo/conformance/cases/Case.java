package dev.cryo.conformance.cases;

import dev.cryo.conformance.check.Check;
import java.util.List;

/**
 * A conformance case is data: a fixture, a scenario, and the checks that judge the run.
 * In fixture arguments, {@code {build}} stands for the fixtures' build directory.
 */
public record Case(String name, Fixture fixture, Scenario scenario, List<Check> checks) {
    public Case {
        checks = List.copyOf(checks);
    }

    @Override
    public String toString() {
        return name + " [" + fixture + "; " + scenario + "]";
    }
}
