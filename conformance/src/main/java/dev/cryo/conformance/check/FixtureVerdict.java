package dev.cryo.conformance.check;

import dev.cryo.conformance.run.Run;

/** The fixture checked its own state after everything and said PASS. */
public final class FixtureVerdict implements Check {

    @Override
    public String name() {
        return "verdict";
    }

    @Override
    public void atEnd(Run run) throws CheckFailure {
        String verdict = run.verdict().orElseThrow(() -> new CheckFailure(name(), "no verdict from "
                + run.testCase().fixture().binary() + " (pid " + run.pid() + ") within "
                + run.timeouts().verdict().toSeconds() + " s; its stderr: " + run.fixtureStderrTail()));
        if (!verdict.equals("PASS")) {
            throw new CheckFailure(name(), run.testCase().fixture().binary() + " says " + verdict);
        }
    }
}
