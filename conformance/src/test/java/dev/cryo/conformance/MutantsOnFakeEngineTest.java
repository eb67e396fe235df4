package dev.cryo.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.cases.Fixture;
import dev.cryo.conformance.cases.Scenario;
import dev.cryo.conformance.check.Check;
import dev.cryo.conformance.run.CaseResult;
import dev.cryo.conformance.run.Outcome;
import dev.cryo.conformance.sandbox.SandboxKind;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The mutants that need no real images (stopped, restarted) wrapped around fake-criu: the checks
 * meant for them catch them already, before the real engine can restore.
 */
class MutantsOnFakeEngineTest {
    private static final Case COUNTER = new Case("fake-mutant-counter", Fixture.counter("counter", "line", 10),
            Scenario.cycles(1, Duration.ofMillis(100)), Check.counting());

    @Test
    void aTreeLeftStoppedIsCaughtByTheResumesCheck() {
        TestRig.assumeUsable(SandboxKind.NATIVE);
        CaseResult result = TestRig.runner().run(COUNTER, SandboxKind.NATIVE, TestRig.mutantOverFake("restore-stopped"));
        assertEquals(Outcome.FAIL, result.outcome());
        assertTrue(result.failedCheck("resumes"), result.message());
    }

    @Test
    void aProgramStartedAfreshIsCaughtByTheCounterCheck() {
        TestRig.assumeUsable(SandboxKind.NATIVE);
        CaseResult result = TestRig.runner().run(COUNTER, SandboxKind.NATIVE, TestRig.mutantOverFake("restore-restart"));
        assertEquals(Outcome.FAIL, result.outcome());
        assertTrue(result.failedCheck("counter"), result.message());
    }
}
