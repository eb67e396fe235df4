package dev.cryo.conformance;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.cases.Cases;
import dev.cryo.conformance.cases.Fixture;
import dev.cryo.conformance.cases.PageWrite;
import dev.cryo.conformance.cases.Scenario;
import dev.cryo.conformance.check.Check;
import dev.cryo.conformance.run.CaseResult;
import dev.cryo.conformance.run.Outcome;
import dev.cryo.conformance.run.Timeouts;
import dev.cryo.conformance.sandbox.SandboxKind;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The harness itself, driven by fake-criu (freeze on dump, continue on restore: the process is kept
 * exactly as it was). Runs in the native and the docker sandbox; a sandbox that cannot run here skips.
 */
class HarnessOnFakeEngineTest {
    private static final Duration SHORT = Duration.ofMillis(100);

    private static Case named(String name) {
        return Cases.all().stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
    }

    @ParameterizedTest
    @EnumSource(value = SandboxKind.class, names = {"NATIVE", "DOCKER"})
    void everyCheckPassesWhenTheEngineKeepsTheProcessAsItWas(SandboxKind kind) {
        TestRig.assumeUsable(kind);
        List<Case> cases = List.of(
                new Case("fake-counter", Fixture.counter("counter", "line", 10), Scenario.cycles(2, SHORT), Check.counting()),
                new Case("fake-counter-walkthrough", Fixture.counter("counter", "full", 10), Scenario.cycles(2, SHORT),
                        Check.counting()),
                new Case("fake-memory-pre-dumps", Fixture.quiet("memory", "--maps=16", "--pages=8"), Scenario.cycles(1, SHORT)
                        .withPreDumps(2, List.of(new PageWrite(10, 3), new PageWrite(4, 9))), Check.standard()),
                new Case("fake-counter-leave-running", Fixture.counter("counter", "line", 10),
                        Scenario.cycles(2, SHORT).leavingRunning(false), Check.counting()),
                named("signals"), named("pipe"), named("forktree"), named("threads"));
        for (Case c : cases) {
            CaseResult result = TestRig.runner().run(c, kind, TestRig.fakeEngine(Map.of()));
            assertEquals(Outcome.PASS, result.outcome(), c.name() + " in " + kind.label() + ": " + result.message());
            assertTrue(TestRig.processesOf(TestRig.workDirOf(kind, c.name())).isEmpty(),
                    "processes of " + c.name() + " outlived the case");
        }
    }

    @ParameterizedTest
    @EnumSource(value = SandboxKind.class, names = {"NATIVE", "DOCKER"})
    void aHungEngineFailsItsCaseWithinTheEngineBoundAndLeavesNothingRunning(SandboxKind kind) {
        TestRig.assumeUsable(kind);
        Case c = new Case("fake-hung-dump", Fixture.counter("counter", "line", 10), Scenario.cycles(1, SHORT), Check.counting());
        CaseResult result = TestRig.runner(Timeouts.standard().withEngine(Duration.ofSeconds(3)))
                .run(c, kind, TestRig.fakeEngine(Map.of("FAKE_HANG", "dump")));
        assertEquals(Outcome.FAIL, result.outcome());
        assertTrue(result.message().contains("dump (cycle 1) did not finish within 3 s"), result.message());
        assertTrue(result.took().compareTo(Duration.ofSeconds(30)) < 0, "took " + result.took());
        await("fixture processes gone").atMost(Duration.ofSeconds(10))
                .until(() -> TestRig.processesOf(TestRig.workDirOf(kind, c.name())).isEmpty());
    }

    @ParameterizedTest
    @EnumSource(value = SandboxKind.class, names = {"NATIVE"})
    void theCaseBoundEndsACaseStuckAnywhere(SandboxKind kind) {
        TestRig.assumeUsable(kind);
        Case c = new Case("fake-stuck-case", Fixture.counter("counter", "line", 10), Scenario.cycles(1, SHORT), Check.counting());
        Timeouts tight = Timeouts.standard().withEngine(Duration.ofSeconds(120))
                .withCaseBound(Duration.ofSeconds(4), Duration.ofSeconds(1));
        CaseResult result = TestRig.runner(tight).run(c, kind, TestRig.fakeEngine(Map.of("FAKE_HANG", "restore")));
        assertEquals(Outcome.FAIL, result.outcome());
        assertTrue(result.message().contains("did not finish within 5 s; it was at: cycle 1: restore"), result.message());
        await("fixture processes gone").atMost(Duration.ofSeconds(10))
                .until(() -> TestRig.processesOf(TestRig.workDirOf(kind, c.name())).isEmpty());
    }

    @ParameterizedTest
    @EnumSource(value = SandboxKind.class, names = {"NATIVE"})
    void aFailingEngineIsReportedInItsOwnWords(SandboxKind kind) {
        TestRig.assumeUsable(kind);
        Case c = new Case("fake-failing-restore", Fixture.counter("counter", "line", 10), Scenario.cycles(1, SHORT),
                Check.counting());
        CaseResult result = TestRig.runner().run(c, kind, TestRig.fakeEngine(Map.of("FAKE_FAIL", "restore")));
        assertEquals(List.of("engine"), result.failedChecks());
        assertTrue(result.message().contains("restore (cycle 1) failed with exit 1: Error (fake): restore refused"),
                result.message());
    }

    @ParameterizedTest
    @EnumSource(value = SandboxKind.class, names = {"NATIVE", "DOCKER"})
    void aFixtureThatFailsItsOwnCheckFailsTheCase(SandboxKind kind) {
        TestRig.assumeUsable(kind);
        // a fixture that cannot make its mappings says FAIL at once; the harness reports its words
        Case c = new Case("fake-bad-fixture", Fixture.quiet("memory", "--maps=0"), Scenario.cycles(1, SHORT), Check.standard());
        CaseResult result = TestRig.runner().run(c, kind, TestRig.fakeEngine(Map.of()));
        assertEquals(Outcome.FAIL, result.outcome());
        assertTrue(result.message().contains("bad parameters"), result.message());
    }

    @ParameterizedTest
    @EnumSource(value = SandboxKind.class, names = {"NATIVE"})
    void aPrivateClonesPassedCaseLeavesNothingUnderVarTmpAndAFailedOneStays(SandboxKind kind) throws Exception {
        TestRig.assumeUsable(kind);
        java.nio.file.Path closed = TestRig.REPO.resolve("conformance/target/test-runs-private");
        java.nio.file.Files.createDirectories(closed);
        java.nio.file.Files.setPosixFilePermissions(closed, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        java.nio.file.Path runs = closed.resolve("runs");
        java.nio.file.Path outside = dev.cryo.conformance.run.CaseRunner.reachableRootOf(runs);
        dev.cryo.conformance.run.CaseRunner runner = new dev.cryo.conformance.run.CaseRunner(TestRig.REPO, runs,
                Timeouts.standard().withEngine(Duration.ofSeconds(60)));
        Case failing = new Case("fake-private-failing", Fixture.counter("counter", "line", 10), Scenario.cycles(1, SHORT),
                Check.counting());
        CaseResult failed = runner.run(failing, kind, TestRig.fakeEngine(Map.of("FAKE_FAIL", "restore")));
        assertEquals(Outcome.FAIL, failed.outcome());
        java.nio.file.Path kept = outside.resolve(kind.label()).resolve(failing.name());
        assertTrue(java.nio.file.Files.isDirectory(kept), "a failed case's directory stays for a look: " + kept);
        Case passing = new Case("fake-private-passing", Fixture.counter("counter", "line", 10), Scenario.cycles(1, SHORT),
                Check.counting());
        CaseResult passed = runner.run(passing, kind, TestRig.fakeEngine(Map.of()));
        assertEquals(Outcome.PASS, passed.outcome(), passed.message());
        assertTrue(java.nio.file.Files.notExists(outside.resolve(kind.label()).resolve(passing.name())));
        assertTrue(java.nio.file.Files.isDirectory(kept));
        try (var walk = java.nio.file.Files.walk(outside)) {
            for (java.nio.file.Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                java.nio.file.Files.delete(p);
            }
        }
    }
}
