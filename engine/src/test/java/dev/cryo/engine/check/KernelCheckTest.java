package dev.cryo.engine.check;

import dev.cryo.engine.sys.probe.Finding;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Probes of the running kernel, held against what its own configuration says. */
class KernelCheckTest {
    private static boolean root() throws IOException {
        return Files.readString(Path.of("/proc/self/status")).lines()
                .anyMatch(l -> l.startsWith("Uid:") && l.split("\\s+")[2].equals("0"));
    }

    private static Optional<String> config(String option) {
        return KernelConfig.running().flatMap(c -> c.value(option));
    }

    /** True from kernel 6.7, which brought UFFD_FEATURE_WP_ASYNC and PAGEMAP_SCAN. */
    private static boolean atLeast6_7() throws IOException {
        String[] v = Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip().split("[.-]");
        int major = Integer.parseInt(v[0]), minor = Integer.parseInt(v[1]);
        return major > 6 || (major == 6 && minor >= 7);
    }

    @Test
    void softDirtyProbeAgreesWithTheKernelConfig() {
        Optional<String> set = config("CONFIG_MEM_SOFT_DIRTY");
        assumeTrue(set.isPresent(), "no /proc/config.gz mentioning CONFIG_MEM_SOFT_DIRTY to compare with");
        Finding f = new KernelCheck().probe(Feature.SOFT_DIRTY);
        assertEquals(!set.get().equals("n"), f.present(), f.detail());
    }

    @Test
    void uffdWriteProtectWithPagemapScanIsPresentFrom6_7() throws IOException {
        assumeTrue(root(), "not root: userfaultfd may be refused to unprivileged users");
        assumeTrue(atLeast6_7(), "kernel older than 6.7 has no UFFD_FEATURE_WP_ASYNC nor PAGEMAP_SCAN");
        assumeTrue(config("CONFIG_USERFAULTFD").filter(v -> v.equals("y")).isPresent()
                && config("CONFIG_PTE_MARKER_UFFD_WP").filter(v -> v.equals("y")).isPresent(),
                "kernel config does not show CONFIG_USERFAULTFD=y and CONFIG_PTE_MARKER_UFFD_WP=y");
        KernelCheck check = new KernelCheck();
        Finding wp = check.probe(Feature.UFFD_WP_ASYNC), scan = check.probe(Feature.PAGEMAP_SCAN);
        assertTrue(wp.present(), wp.detail());
        assertTrue(scan.present(), scan.detail());
        assertTrue(check.trackers().contains("uffd-wp with PAGEMAP_SCAN"), check.trackers().toString());
        assertTrue(check.probe(Feature.MEM_DIRTY_TRACK).present());
    }

    @Test
    void theNetworkLockIsCheckedOverNetlinkAndNothingIsLeft() throws Exception {
        assumeTrue(root(), "not root: nf_tables needs CAP_NET_ADMIN");
        assumeTrue(config("CONFIG_NF_TABLES").filter(v -> !v.equals("n")).isPresent(),
                "kernel config does not show CONFIG_NF_TABLES");
        KernelCheck check = new KernelCheck();
        Finding lock = check.probe(Feature.NETWORK_LOCK_NFTABLES), nft = check.probe(Feature.NFTABLES);
        assertTrue(lock.present(), lock.detail());
        assertTrue(nft.present(), nft.detail());
        // checked, not applied: no table of the check's in Cryo's namespace (nft, when installed, says so)
        java.nio.file.Path bin = java.nio.file.Path.of("/usr/sbin/nft");
        if (java.nio.file.Files.isExecutable(bin)) {
            Process p = new ProcessBuilder(bin.toString(), "list", "tables").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            p.waitFor();
            assertTrue(!out.contains("cryo-lock-check"), out);
        }
    }

    @Test
    void contentHashesAreAlwaysATracker() {
        assertTrue(new KernelCheck().trackers().contains("content hashes"));
    }

    @Test
    void requiredFeaturesAreAllPresentAsRoot() throws IOException {
        assumeTrue(root(), "not root: clone3 set_tid and ptrace need privileges");
        assumeTrue(atLeast6_7(), "kernel older than the one the engine targets");
        CheckReport report = new KernelCheck().report(Feature.listed(false));
        assertTrue(report.canDumpAndRestore(), String.join("\n", report.lines()));
    }

    @Test
    void clone3ProbeCreatesNoProcess() throws IOException {
        long before = Files.list(Path.of("/proc/self/task")).count();
        Finding f = new KernelCheck().probe(Feature.CLONE3_SET_TID);
        assertFalse(f.detail().contains("created pid"), f.detail());
        assertEquals(before, Files.list(Path.of("/proc/self/task")).count());
    }
}
