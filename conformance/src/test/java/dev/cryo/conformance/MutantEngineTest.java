package dev.cryo.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.cases.Fixture;
import dev.cryo.conformance.cases.Scenario;
import dev.cryo.conformance.check.Check;
import dev.cryo.conformance.engine.CryoEngine;
import dev.cryo.conformance.engine.Engine;
import dev.cryo.conformance.run.CaseResult;
import dev.cryo.conformance.run.Outcome;
import dev.cryo.conformance.sandbox.SandboxKind;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The checks can fail: each mutant engine (a wrapper around bin/cryo under src/test/mutants) breaks one
 * thing, and the check meant for it must catch it. Needs a bin/cryo that passes the baseline case;
 * until it does, every test skips with the baseline's failure as the reason.
 */
class MutantEngineTest {
    private static final Duration MOMENT = Duration.ofMillis(200);
    static final Case COUNTER = new Case("mutant-baseline-counter", Fixture.counter("counter", "line", 10),
            Scenario.cycles(1, MOMENT), Check.counting());
    static final Case MEMORY = new Case("mutant-baseline-memory", Fixture.quiet("memory", "--maps=16", "--pages=8"),
            Scenario.cycles(1, MOMENT), Check.standard());
    static final Case SIGNALS = new Case("mutant-baseline-signals", Fixture.quiet("signals"),
            Scenario.cycles(1, MOMENT), Check.standard());
    private static final Map<String, CaseResult> BASELINE = new HashMap<>();

    private static Engine cryo() {
        return new CryoEngine(TestRig.REPO);
    }

    /** Runs the case with plain bin/cryo once; skips the calling test unless it passes. */
    private static void assumeBaselinePasses(Case c) {
        TestRig.assumeUsable(SandboxKind.NATIVE);
        CryoEngine engine = new CryoEngine(TestRig.REPO);
        engine.unusableReason().ifPresent(reason -> assumeTrue(false, "bin/cryo cannot run: " + reason));
        CaseResult baseline = BASELINE.computeIfAbsent(c.name(), n -> TestRig.runner().run(c, SandboxKind.NATIVE, engine));
        if (!baseline.passed()) {
            System.out.println("MutantEngineTest skipped: bin/cryo fails the baseline case " + c.name() + ": " + baseline.message());
        }
        assumeTrue(baseline.passed(), "bin/cryo fails the baseline case " + c.name() + ": " + baseline.message());
    }

    private static CaseResult runMutant(String mutant, Case c) {
        Case renamed = new Case(c.name().replace("baseline", mutant), c.fixture(), c.scenario(), c.checks());
        return TestRig.runner().run(renamed, SandboxKind.NATIVE, TestRig.mutant(mutant, cryo()));
    }

    @Test
    void restoringUnderNewPidsIsCaughtByThePidsCheck() {
        assumeBaselinePasses(COUNTER);
        CaseResult result = runMutant("restore-new-pid", COUNTER);
        assertEquals(Outcome.FAIL, result.outcome());
        assertTrue(result.failedCheck("pids"), result.message());
    }

    @Test
    void aZeroedPageIsCaughtByTheFixturesOwnCheck() {
        assumeBaselinePasses(MEMORY);
        CaseResult result = runMutant("dump-zero-page", MEMORY);
        assertEquals(Outcome.FAIL, result.outcome());
        assertTrue(result.failedCheck("verdict"), result.message());
        assertTrue(result.message().contains("differs"), result.message());
    }

    @Test
    void restartingTheProgramIsCaughtByTheCounterCheck() {
        assumeBaselinePasses(COUNTER);
        CaseResult result = runMutant("restore-restart", COUNTER);
        assertEquals(Outcome.FAIL, result.outcome());
        assertTrue(result.failedCheck("counter"), result.message());
    }

    @Test
    void aTreeLeftStoppedIsCaughtByTheResumesCheck() {
        assumeBaselinePasses(COUNTER);
        CaseResult result = runMutant("restore-stopped", COUNTER);
        assertEquals(Outcome.FAIL, result.outcome());
        assertTrue(result.failedCheck("resumes"), result.message());
    }

    @Test
    void aLostSignalMaskIsCaughtByTheSignalsCheckDespiteItsSecondLooks() {
        assumeBaselinePasses(SIGNALS);
        CaseResult result = runMutant("restore-sigmask-lost", SIGNALS);
        assertEquals(Outcome.FAIL, result.outcome());
        assertTrue(result.failedCheck("signals"), result.message());
        assertTrue(result.message().contains("more reads"), result.message());
    }
}
