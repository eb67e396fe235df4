package dev.cryo.conformance.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.cases.Cases;
import dev.cryo.conformance.engine.CriuEngine;
import dev.cryo.conformance.engine.CryoEngine;
import dev.cryo.conformance.engine.Feature;
import dev.cryo.conformance.report.Report;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class KnownGapsTest {
    private static final Set<Feature> CRYO_GAPS = Set.of(Feature.PROCESS_TREES, Feature.THREADS);
    private static final String REFUSAL =
            "Error: cannot dump pid 3: it has 5 threads; multithreaded processes are not supported yet";

    private static CaseResult raw(Outcome outcome, String message, String... failedChecks) {
        return new CaseResult("threads", "native", "cryo", outcome, message, List.of(failedChecks), Duration.ofSeconds(2));
    }

    private static CaseResult engineRefused() {
        return raw(Outcome.FAIL, "engine: dump (cycle 1) failed with exit 1: " + REFUSAL, "engine");
    }

    @Test
    void cleanRefusalOfAKnownGapIsXfailWithTheEnginesWords() {
        CaseResult r = KnownGaps.classify(engineRefused(), Set.of(Feature.THREADS), CRYO_GAPS,
                Optional.of(new Refusal(REFUSAL, true)));
        assertEquals(Outcome.XFAIL, r.outcome());
        assertTrue(r.message().contains("threads") && r.message().contains("multithreaded processes are not supported yet"),
                r.message());
        assertFalse(r.outcome().failing());
    }

    @Test
    void passDespiteADeclaredGapIsXpassAndFails() {
        CaseResult r = KnownGaps.classify(raw(Outcome.PASS, ""), Set.of(Feature.PROCESS_TREES), CRYO_GAPS, Optional.empty());
        assertEquals(Outcome.XPASS, r.outcome());
        assertTrue(r.outcome().failing());
        assertTrue(r.message().contains("remove it from the engine's known gaps"), r.message());
    }

    @Test
    void refusalThatLeftTheProcessStoppedStaysAFailure() {
        CaseResult r = KnownGaps.classify(engineRefused(), Set.of(Feature.THREADS), CRYO_GAPS,
                Optional.of(new Refusal(REFUSAL, false)));
        assertEquals(Outcome.FAIL, r.outcome());
        assertTrue(r.message().contains("not refused cleanly"), r.message());
    }

    @Test
    void refusalWithoutNotSupportedStaysAFailure() {
        String crash = "Error: cannot dump pid 3: PTRACE_SEIZE failed: Operation not permitted";
        CaseResult r = KnownGaps.classify(raw(Outcome.FAIL, "engine: " + crash, "engine"), Set.of(Feature.THREADS),
                CRYO_GAPS, Optional.of(new Refusal(crash, true)));
        assertEquals(Outcome.FAIL, r.outcome());
    }

    @Test
    void refusalOfAKindOfFileCryoCannotDumpYetIsXfail() {
        String refusal = "Error: cannot dump pid 7: fd 5 is an eventpoll instance (anon_inode:[eventpoll]), which Cryo "
                + "cannot dump yet";
        CaseResult r = KnownGaps.classify(raw(Outcome.FAIL, "engine: dump (cycle 1) failed with exit 1: " + refusal,
                "engine"), Set.of(Feature.EPOLL), Set.of(Feature.EPOLL), Optional.of(new Refusal(refusal, true)));
        assertEquals(Outcome.XFAIL, r.outcome(), r.message());
        assertTrue(r.message().contains("which Cryo cannot dump yet"), r.message());
    }

    @Test
    void failureAfterTheFirstCommandStaysAFailure() {
        // restore failed: no refusal was recorded, since the dump (the first command) went through
        CaseResult r = KnownGaps.classify(raw(Outcome.FAIL, "engine: restore (cycle 1) failed: not supported", "engine"),
                Set.of(Feature.THREADS), CRYO_GAPS, Optional.empty());
        assertEquals(Outcome.FAIL, r.outcome());
    }

    @Test
    void otherChecksFailingBesideTheRefusalStaysAFailure() {
        CaseResult r = KnownGaps.classify(raw(Outcome.FAIL, "engine: ...; network-lock: table left", "engine", "network-lock"),
                Set.of(Feature.THREADS), CRYO_GAPS, Optional.of(new Refusal(REFUSAL, true)));
        assertEquals(Outcome.FAIL, r.outcome());
    }

    @Test
    void caseWithoutAGapOfThisEngineIsLeftAsItIs() {
        CaseResult refused = engineRefused();
        assertSame(refused, KnownGaps.classify(refused, Set.of(), CRYO_GAPS, Optional.of(new Refusal(REFUSAL, true))));
        assertSame(refused, KnownGaps.classify(refused, Set.of(Feature.THREADS), Set.of(),
                Optional.of(new Refusal(REFUSAL, true))));
        CaseResult skipped = CaseResult.skip("threads", "docker", "cryo", "docker is not running");
        assertSame(skipped, KnownGaps.classify(skipped, Set.of(Feature.THREADS), CRYO_GAPS, Optional.empty()));
    }

    @Test
    void neitherCryoNorAnyOtherEngineDeclaresAGap() {
        assertEquals(Set.of(), new CryoEngine(Path.of("/repo")).knownGaps());
        assertEquals(Set.of(), CriuEngine.at(Path.of("/opt/criu/criu")).knownGaps());
    }

    @Test
    void casesOfTreesAndThreadsDeclareWhatTheyNeed() {
        var needs = Cases.all().stream().filter(c -> !c.needs().isEmpty())
                .collect(java.util.stream.Collectors.toMap(Case::name, Case::needs));
        assertEquals(Set.of(Feature.THREADS), needs.get("threads"));
        assertEquals(Set.of(Feature.PROCESS_TREES), needs.get("forktree"));
        assertEquals(Set.of(Feature.PROCESS_TREES), needs.get("pipe-pair"));
        assertEquals(Set.of(Feature.PROCESS_TREES), needs.get("tcp-loopback"));
        assertEquals(Set.of(Feature.THREADS, Feature.EPOLL), needs.get("apps-redis"));
        assertEquals(Set.of(Feature.PROCESS_TREES, Feature.EPOLL, Feature.EVENTFD), needs.get("apps-nginx"));
        assertEquals(Set.of(Feature.THREADS, Feature.EPOLL), needs.get("apps-jvm17"));
        assertEquals(Set.of(Feature.THREADS), needs.get("apps-python-http"));
        assertEquals(Set.of(Feature.THREADS), needs.get("apps-python-workers"));
    }

    @Test
    void xfailDoesNotFailTheSuiteButXpassDoes() {
        CaseResult xfail = KnownGaps.classify(engineRefused(), Set.of(Feature.THREADS), CRYO_GAPS,
                Optional.of(new Refusal(REFUSAL, true)));
        Report ok = new Report("cryo", 1, List.of(raw(Outcome.PASS, ""), xfail), Duration.ofSeconds(3));
        assertFalse(ok.anyFailed());
        assertTrue(ok.table().contains("xfail") && ok.table().contains("not supported yet"), ok.table());
        assertTrue(ok.summary().contains("1 xfail"), ok.summary());
        assertTrue(ok.markdown().contains("multithreaded processes are not supported yet"), ok.markdown());
        CaseResult xpass = KnownGaps.classify(raw(Outcome.PASS, ""), Set.of(Feature.THREADS), CRYO_GAPS, Optional.empty());
        Report bad = new Report("cryo", 1, List.of(xpass), Duration.ofSeconds(3));
        assertTrue(bad.anyFailed());
        assertTrue(bad.junit("native", bad.results()).contains("<failure"), "xpass is a JUnit failure");
        assertTrue(ok.junit("native", List.of(xfail)).contains("<skipped message=\"xfail: "), "xfail is a JUnit skip");
    }
}
