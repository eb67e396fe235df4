package dev.cryo.bench.macro;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReportTest {
    static final long MIB = 1 << 20;

    private static BenchRun run(Row... rows) {
        BenchPlan plan = BenchPlan.quick(Path.of("/repo"), List.of(), List.of("criu: not run (no BENCH_CRIU=/path/to/criu given)"));
        MachineLimits.VmCopy vm = new MachineLimits.VmCopy(8e9, 7e9, "test");
        Map<TargetDir.Kind, BenchRun.Dir> dirs = Map.of(TargetDir.Kind.TMPFS,
                new BenchRun.Dir("tmpfs for the test", new MachineLimits.DirWrite(2e9, "dd ...", "tmpfs")));
        return new BenchRun(plan, Instant.parse("2026-01-01T00:00:00Z"), 1, new BenchRun.Host("Linux", 2, 1 << 30, "jvm", 1.0, 2.0), "abc1234",
                vm, dirs, Map.of("cryo", "0.1"), List.of(rows));
    }

    private static Measurement passed(long pages) {
        return new Measurement(pages * 4096, 2_000_000_000L, null,
                new Measurement.DumpStats(100, 500_000, 100_000, 200_000, pages, pages), pages * 4096 + 1000,
                pages * 4096, 1_000_000_000L, null, 400_000, "PASS");
    }

    @Test
    void failedDumpShowsItsErrorInTheRowAndFailsTheRun() {
        Measurement failed = new Measurement(64 * MIB, 10, "cannot dump pid 7: fd 3 | is odd", null, 0, 0, 0,
                "not tried", -1, null);
        BenchRun r = run(new Row("cryo", Workload.memory(64), TargetDir.Kind.TMPFS, List.of(failed)));
        String table = MarkdownReport.render(r);
        assertTrue(table.contains("error: dump: cannot dump pid 7: fd 3 \\| is odd"), table);
        assertFalse(r.allPassed());
    }

    @Test
    void ratesAreShownAgainstTheMachineLimits() {
        long pages = 64 * 256;
        BenchRun r = run(new Row("cryo", Workload.memory(64), TargetDir.Kind.TMPFS, List.of(passed(pages))));
        String table = MarkdownReport.render(r);
        // 64 MiB in 100 ms of memdump = 0.67 GB/s, against 8 GB/s of process_vm_readv
        assertTrue(table.contains("0.67 GB/s (0.08x readv)"), table);
        assertTrue(table.contains("| PASS |"), table);
        assertTrue(table.contains("criu: not run"), table);
        assertTrue(r.allPassed());
    }

    private static Measurement frozen(long frozenUs) {
        return new Measurement(MIB, 1_000_000_000L, null, new Measurement.DumpStats(100, frozenUs, 10, 10, 1, 1),
                MIB, 4096, 1_000_000_000L, null, 400_000, "PASS");
    }

    @Test
    void frozenTimePerExtraThreadIsTheThreadsRowMinusTheCounterRowOfTheSameTool() {
        BenchRun r = run(new Row("cryo", Workload.counter(), TargetDir.Kind.TMPFS, List.of(frozen(4_000))),
                new Row("cryo", Workload.threads(64), TargetDir.Kind.TMPFS, List.of(frozen(10_400))),
                new Row("criu", Workload.counter(), TargetDir.Kind.TMPFS, List.of(frozen(11_000))),
                new Row("criu", Workload.threads(64), TargetDir.Kind.TMPFS, List.of(frozen(43_000))));
        String table = MarkdownReport.render(r);
        assertTrue(table.contains("cryo, tmpfs: frozen time per extra thread 100 us"), table);
        assertTrue(table.contains("criu, tmpfs: frozen time per extra thread 500 us"), table);
    }

    @Test
    void frozenTimePerExtraTaskIsTheTreeRowMinusTheCounterRowOfTheSameTool() {
        BenchRun r = run(new Row("cryo", Workload.counter(), TargetDir.Kind.TMPFS, List.of(frozen(4_000))),
                new Row("cryo", Workload.tree(100), TargetDir.Kind.TMPFS, List.of(frozen(301_000))));
        String table = MarkdownReport.render(r);
        assertTrue(table.contains("cryo, tmpfs: frozen time per extra task 3.0 ms"), table);
        assertFalse(table.contains("per extra thread"), table);
    }

    @Test
    void noPerThreadFigureWithoutAPassedCounterRow() {
        Measurement failed = new Measurement(MIB, 10, "boom", null, 0, 0, 0, "not tried", -1, null);
        String table = MarkdownReport.render(run(new Row("cryo", Workload.counter(), TargetDir.Kind.TMPFS, List.of(failed)),
                new Row("cryo", Workload.threads(64), TargetDir.Kind.TMPFS, List.of(frozen(10_400)))));
        assertFalse(table.contains("per extra thread"), table);
    }

    @Test
    void jsonHasEveryRepetitionAndNullForWhatWasNotMeasured() {
        Measurement failed = new Measurement(MIB, 10, "boom \"quoted\"", null, 0, 0, 0, "not tried", -1, null);
        String json = JsonReport.render(run(new Row("cryo", Workload.counter(), TargetDir.Kind.TMPFS, List.of(failed))));
        assertTrue(json.contains("\"dump_error\": \"boom \\\"quoted\\\"\""), json);
        assertTrue(json.contains("\"frozen_us\": null"), json);
        assertTrue(json.contains("\"stats_dump\": null"), json);
    }
}
