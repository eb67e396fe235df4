package dev.cryo.conformance.report;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cryo.conformance.run.CaseResult;
import dev.cryo.conformance.run.Outcome;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReportTest {
    private static final Report REPORT = new Report("cryo", 42, List.of(
            new CaseResult("counter-fast", "native", "cryo", Outcome.PASS, "", List.of(), Duration.ofMillis(1500)),
            new CaseResult("signals", "native", "cryo", Outcome.FAIL, "verdict: signals says FAIL: <mask> & \"so\"",
                    List.of("verdict"), Duration.ofSeconds(2)),
            CaseResult.skip("signals", "docker", "cryo", "no Docker daemon")), Duration.ofSeconds(4));

    @Test
    void theTableHasARowPerCaseAndSandboxAndTheReplaySeed() {
        String table = REPORT.table();
        assertTrue(table.contains("counter-fast  native   pass"), table);
        assertTrue(table.contains("signals       native   fail"), table);
        assertTrue(table.contains("signals       docker   skip"), table);
        assertTrue(table.contains("1 passed, 1 failed, 1 skipped"), table);
        assertTrue(table.contains("make conformance SEED=42"), table);
        assertTrue(REPORT.anyFailed());
    }

    @Test
    void junitXmlFollowsSurefiresShapeAndEscapes(@TempDir Path dir) throws IOException {
        REPORT.write(dir);
        String nativeXml = Files.readString(dir.resolve("conformance-reports/TEST-conformance.native.xml"));
        assertTrue(nativeXml.contains("<testsuite name=\"conformance.native\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\""),
                nativeXml);
        assertTrue(nativeXml.contains("<failure message=\"verdict: signals says FAIL: &lt;mask&gt; &amp; &quot;so&quot;\""), nativeXml);
        String dockerXml = Files.readString(dir.resolve("conformance-reports/TEST-conformance.docker.xml"));
        assertTrue(dockerXml.contains("<skipped message=\"no Docker daemon\"/>"), dockerXml);
        assertTrue(Files.readString(dir.resolve("report.md")).contains("| signals | native | **fail** |"));
    }

    @Test
    void aRunOfSeveralSandboxesShowsThemSideBySide(@TempDir Path dir) throws IOException {
        Report three = new Report("cryo", 7, List.of(
                new CaseResult("counter-fast", "native", "cryo", Outcome.PASS, "", List.of(), Duration.ofMillis(1500)),
                new CaseResult("counter-fast", "docker", "cryo", Outcome.PASS, "", List.of(), Duration.ofSeconds(3)),
                new CaseResult("counter-fast", "vagrant", "cryo", Outcome.FAIL, "x", List.of(), Duration.ofSeconds(30)),
                new CaseResult("kernel-check", "vagrant", "cryo", Outcome.PASS, "6.1", List.of(), Duration.ofSeconds(50))),
                Duration.ofSeconds(90));
        String table = three.table();
        assertTrue(table.contains("case          native      docker      vagrant"), table);
        assertTrue(table.contains("counter-fast  pass 1.5 s  pass 3.0 s  fail 30.0 s"), table);
        assertTrue(table.contains("kernel-check  -           -           pass 50.0 s"), table);
        three.write(dir);
        String md = Files.readString(dir.resolve("report.md"));
        assertTrue(md.contains("| case | native | docker | vagrant |\n|---|---|---|---|"), md);
        assertTrue(md.contains("| counter-fast | pass 1.5 s | pass 3.0 s | **fail 30.0 s** |"), md);
        assertFalse(new Report("cryo", 7, List.of(three.results().get(0)), Duration.ZERO).table().contains("native      "),
                "one sandbox: no side-by-side table");
    }

    @Test
    void aRunWithoutFailuresIsGreen() {
        Report green = new Report("cryo", 1, List.of(CaseResult.skip("x", "docker", "cryo", "why")), Duration.ZERO);
        assertFalse(green.anyFailed());
    }
}
