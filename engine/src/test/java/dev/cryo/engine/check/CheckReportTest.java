package dev.cryo.engine.check;

import dev.cryo.engine.sys.probe.Finding;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckReportTest {
    private static CheckReport.Result result(Feature f, boolean present) {
        return new CheckReport.Result(f, new Finding(present, "because"));
    }

    @Test
    void missingRequiredFeatureFailsAndIsNamed() {
        CheckReport r = new CheckReport(List.of(result(Feature.PTRACE_SEIZE, true),
                result(Feature.CLONE3_SET_TID, false)), List.of("content hashes"));
        assertEquals(1, r.exitCode());
        String last = r.lines().get(r.lines().size() - 1);
        assertTrue(last.startsWith("Does not look good") && last.contains("clone3_set_tid"), last);
    }

    @Test
    void missingTrackerOrOptionStillLooksGood() {
        CheckReport r = new CheckReport(List.of(result(Feature.PTRACE_SEIZE, true), result(Feature.SOFT_DIRTY, false),
                result(Feature.TCP_REPAIR, false)), List.of("content hashes"));
        assertEquals(0, r.exitCode());
        String last = r.lines().get(r.lines().size() - 1);
        assertTrue(last.startsWith("Looks good, but") && last.contains("--tcp-established"), last);
    }

    @Test
    void linesAreAlignedNameStatusDetail() {
        CheckReport r = new CheckReport(List.of(result(Feature.RSEQ, true), result(Feature.PAGEMAP_SCAN, false)),
                List.of("content hashes"));
        assertEquals("rseq          yes  because", r.lines().get(0));
        assertEquals("pagemap_scan  no   because", r.lines().get(1));
        assertEquals("Dirty-page trackers: content hashes", r.lines().get(2));
        assertEquals("Looks good.", r.lines().get(3));
    }

    @Test
    void criuFeatureNamesResolve() {
        assertEquals(Feature.RSEQ, Feature.byName("get_rseq_conf").orElseThrow());
        assertEquals(Feature.PIDFD_GETFD, Feature.byName("pidfd_store").orElseThrow());
        assertEquals(Feature.MEM_DIRTY_TRACK, Feature.byName("mem_dirty_track").orElseThrow());
        assertEquals(Feature.UFFD_NONCOOP, Feature.byName("uffd-noncoop").orElseThrow());
        assertEquals(Feature.CLONE3_SET_TID, Feature.byName("clone3_set_tid").orElseThrow());
        assertTrue(Feature.byName("no_such_feature").isEmpty());
    }

    @Test
    void kernelConfigReadsSetAndUnsetOptions() {
        KernelConfig c = KernelConfig.of("CONFIG_USERFAULTFD=y\n# CONFIG_MEM_SOFT_DIRTY is not set\n");
        assertEquals("y", c.value("CONFIG_USERFAULTFD").orElseThrow());
        assertEquals("n", c.value("CONFIG_MEM_SOFT_DIRTY").orElseThrow());
        assertTrue(c.value("CONFIG_NOPE").isEmpty());
    }
}
