package dev.cryo.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cryo.conformance.cases.App;
import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.cases.Cases;
import dev.cryo.conformance.cases.Scenario;
import dev.cryo.conformance.check.AppAnswers;
import dev.cryo.conformance.run.CaseResult;
import dev.cryo.conformance.run.Outcome;
import dev.cryo.conformance.sandbox.SandboxKind;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The apps group's plumbing over fake-criu (freeze on dump, continue on restore), in the native sandbox: a real
 * program's case starts it, fills it, runs its load across the cycle and judges it by its own answers; a program
 * whose answers come back wrong fails its case with the script's words.
 */
class AppCaseOnFakeEngineTest {

    @Test
    void aProgramWithWorkerThreadsPassesWhenTheEngineKeepsItAsItWas() {
        TestRig.assumeUsable(SandboxKind.NATIVE);
        Case c = Cases.all().stream().filter(x -> x.name().equals("apps-python-workers")).findFirst().orElseThrow();
        CaseResult result = TestRig.runner().run(c, SandboxKind.NATIVE, TestRig.fakeEngine(Map.of()));
        assertEquals(Outcome.PASS, result.outcome(), result.message());
        assertTrue(TestRig.processesOf(TestRig.workDirOf(SandboxKind.NATIVE, c.name())).isEmpty(),
                "processes of " + c.name() + " outlived the case");
    }

    @Test
    void aWrongAnswerAfterTheRestoreFailsTheCaseInTheProgramsWords() {
        TestRig.assumeUsable(SandboxKind.NATIVE);
        Case c = Case.ofApp("fake-app-wrong-answer", new App("wrong-answer", "../src/test/apps/wrong-answer"),
                Scenario.cycles(1, Duration.ofMillis(100)), AppAnswers.forApp(false));
        CaseResult result = TestRig.runner().run(c, SandboxKind.NATIVE, TestRig.fakeEngine(Map.of()));
        assertEquals(Outcome.FAIL, result.outcome(), result.message());
        assertEquals(java.util.List.of("app"), result.failedChecks(), result.message());
        assertTrue(result.message().contains("check: key 42 reads back as value-41"), result.message());
    }
}
