package dev.cryo.engine.cli;

import dev.cryo.engine.check.KernelConfig;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class CheckCommandTest {
    private static boolean root() throws IOException {
        return Files.readString(Path.of("/proc/self/status")).lines()
                .anyMatch(l -> l.startsWith("Uid:") && l.split("\\s+")[2].equals("0"));
    }

    private static boolean softDirtyConfiguredOut() {
        return KernelConfig.running().flatMap(c -> c.value("CONFIG_MEM_SOFT_DIRTY"))
                .filter(v -> v.equals("n")).isPresent();
    }

    @Test
    void checkReportsSoftDirtyMissingAndUffdWpWithPagemapScanPresent() throws IOException {
        assumeTrue(root(), "not root: cryo check probes ptrace, clone3 set_tid and TCP repair");
        assumeTrue(softDirtyConfiguredOut(), "this kernel is not one without CONFIG_MEM_SOFT_DIRTY");
        CliRun run = CliRun.of("check");
        assertEquals(0, run.status(), run.out() + run.err());
        assertTrue(run.out().lines().anyMatch(l -> l.matches("soft_dirty\\s+no\\s+.*")), run.out());
        assertTrue(run.out().lines().anyMatch(l -> l.matches("uffd_wp_async\\s+yes\\s+.*")), run.out());
        assertTrue(run.out().lines().anyMatch(l -> l.matches("pagemap_scan\\s+yes\\s+.*")), run.out());
        assertTrue(run.out().contains("Dirty-page trackers: uffd-wp with PAGEMAP_SCAN, content hashes"), run.out());
        assertTrue(run.out().strip().endsWith("Looks good."), run.out());
    }

    @Test
    void featureOptionExitsZeroOnlyWhenPresent() throws IOException {
        assumeTrue(root(), "not root");
        assumeTrue(softDirtyConfiguredOut(), "this kernel is not one without CONFIG_MEM_SOFT_DIRTY");
        CliRun missing = CliRun.of("check", "--feature", "soft_dirty");
        assertEquals(1, missing.status());
        assertTrue(missing.out().startsWith("soft_dirty is not supported"), missing.out());
        CliRun tracker = CliRun.of("check", "--feature", "mem_dirty_track");
        assertEquals(0, tracker.status(), tracker.out());
    }

    @Test
    void unknownFeatureIsOneLine() {
        CliRun run = CliRun.of("check", "--feature", "warp_drive");
        assertTrue(run.isOneLineFailure(), run.toString());
        assertTrue(run.err().contains("unknown feature warp_drive"), run.err());
    }

    @Test
    void featureListNamesCriuAndCryoFeatures() {
        CliRun run = CliRun.of("check", "--feature", "list");
        assertEquals(0, run.status());
        for (String name : new String[]{"clone3_set_tid", "mem_dirty_track", "uffd-noncoop", "get_rseq_conf",
                "pagemap_scan", "vdso_layout", "ptrace_seize"}) {
            assertTrue(run.out().contains(name), name + " in " + run.out());
        }
    }
}
