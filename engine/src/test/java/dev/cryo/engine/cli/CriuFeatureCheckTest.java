package dev.cryo.engine.cli;

import dev.cryo.engine.check.Feature;
import dev.cryo.engine.check.KernelConfig;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code cryo check --feature NAME} for every name CRIU 4.2 knows: an answer, exit 0 or 1, that matches this
 * kernel. Where the test can see the fact itself (a file, a namespace, a program), it looks; the rest are the
 * answers CRIU 4.2 gave on this kind of machine (kernel 6.18), checked only on such a kernel.
 */
class CriuFeatureCheckTest {
    /** CRIU 4.2's names with its answers here, from criu-4.2-features.txt. */
    static Map<String, Boolean> criuAnswers() throws IOException {
        try (InputStream in = CriuFeatureCheckTest.class.getResourceAsStream("/criu-4.2-features.txt")) {
            Map<String, Boolean> all = new LinkedHashMap<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isBlank() && !line.startsWith("#")) {
                    String[] f = line.trim().split("\\s+");
                    all.put(f[0], f[1].equals("yes"));
                }
            }
            return all;
        }
    }

    private static boolean root() throws IOException {
        return Files.readString(Path.of("/proc/self/status")).lines()
                .anyMatch(l -> l.startsWith("Uid:") && l.split("\\s+")[2].equals("0"));
    }

    private static String release() throws IOException {
        return Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
    }

    private static boolean exists(String path) {
        return Files.exists(Path.of(path));
    }

    private static boolean fileHas(String path, String text) {
        try {
            return Files.readString(Path.of(path)).contains(text);
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean filesystem(String name) {
        try {
            return Files.readAllLines(Path.of("/proc/filesystems")).stream()
                    .anyMatch(l -> l.trim().endsWith("\t" + name) || l.trim().equals(name));
        } catch (IOException e) {
            return false;
        }
    }

    /** What the test sees for itself, for the features a file or a program tells. */
    static Optional<Boolean> seenByTheTest(String name) {
        return switch (name) {
            case "userns" -> Optional.of(exists("/proc/self/ns/user"));
            case "cgroupns" -> Optional.of(exists("/proc/self/ns/cgroup"));
            case "timens" -> Optional.of(exists("/proc/self/ns/time"));
            case "ns_pid" -> Optional.of(fileHas("/proc/self/status", "NSpid:"));
            case "mnt_id" -> Optional.of(fileHas("/proc/self/fdinfo/0", "mnt_id:") || fileHas("/proc/self/fdinfo/1", "mnt_id:"));
            case "loginuid" -> Optional.of(exists("/proc/self/loginuid"));
            case "autofs" -> Optional.of(filesystem("autofs"));
            case "tun", "tun_ns" -> exists("/dev/net/tun") ? Optional.empty() : Optional.of(false);
            case "apparmor_stacking" -> Optional.of(fileHas("/sys/module/apparmor/parameters/enabled", "Y")
                    && fileHas("/sys/kernel/security/apparmor/features/domain/stack", "yes"));
            case "nftables", "network_lock_nftables" -> exists("/usr/sbin/nft") || exists("/sbin/nft")
                    ? Optional.empty() : Optional.of(false);
            case "nftables-present" -> Optional.empty();
            case "has_ipt_legacy" -> Optional.of(exists("/usr/sbin/iptables-legacy") || exists("/sbin/iptables-legacy"));
            case "mem_dirty_track" -> KernelConfig.running().flatMap(c -> c.value("CONFIG_MEM_SOFT_DIRTY"))
                    .filter(v -> !v.equals("n")).map(v -> true);
            default -> Optional.empty();
        };
    }

    @Test
    void everyCriuFeatureNameIsKnown() throws IOException {
        List<String> unknown = new ArrayList<>();
        for (String name : criuAnswers().keySet()) {
            if (Feature.byName(name).isEmpty()) {
                unknown.add(name);
            }
        }
        assertEquals(List.of(), unknown);
        assertEquals(45, criuAnswers().size());
    }

    @Test
    void everyCriuFeatureIsAnsweredTruthfully() throws IOException {
        assumeTrue(root(), "not root: the probes trace, repair TCP and map vDSOs as CRIU's do");
        boolean criusMachine = release().startsWith("6.18.");
        if (!criusMachine) {
            System.out.println("kernel " + release() + " is not the 6.18 CRIU 4.2's answers were taken on: "
                    + "only the facts the test sees itself are compared");
        }
        Map<String, Boolean> criu = criuAnswers();
        List<String> wrong = new ArrayList<>();
        for (Map.Entry<String, Boolean> e : criu.entrySet()) {
            String name = e.getKey();
            CliRun run = CliRun.of("check", "--feature", name);
            assertTrue(run.status() == 0 || run.status() == 1, name + ": " + run);
            boolean yes = run.status() == 0;
            assertTrue(run.out().startsWith(Feature.byName(name).orElseThrow().featureName()
                    + (yes ? " is supported: " : " is not supported: ")), name + ": " + run.out());
            Optional<Boolean> seen = seenByTheTest(name);
            Boolean expected;
            if (seen.isPresent()) {
                expected = seen.get();
            } else if (name.equals("nftables") || name.equals("network_lock_nftables")) {
                expected = true; // nft is here (seenByTheTest said so): cryo's lock runs it
            } else if (name.equals("mem_dirty_track")) {
                expected = null;
            } else {
                expected = criusMachine ? e.getValue() : null;
            }
            if (expected != null && expected != yes) {
                wrong.add(name + " said " + (yes ? "yes" : "no") + ", expected " + (expected ? "yes" : "no") + ": "
                        + run.out().strip());
            }
        }
        assertEquals(List.of(), wrong, "answers that do not match this kernel");
    }

    @Test
    void memDirtyTrackIsYesExactlyWhenDumpHasAKernelTracker() throws IOException {
        assumeTrue(root(), "not root");
        CliRun feature = CliRun.of("check", "--feature", "mem_dirty_track");
        CliRun uffd = CliRun.of("check", "--feature", "uffd_wp_async");
        CliRun scan = CliRun.of("check", "--feature", "pagemap_scan");
        CliRun soft = CliRun.of("check", "--feature", "soft_dirty");
        boolean tracker = soft.status() == 0 || uffd.status() == 0 && scan.status() == 0;
        assertEquals(tracker ? 0 : 1, feature.status(), feature.out());
    }

    @Test
    void checkAllPrintsTheWholeTable() throws IOException {
        assumeTrue(root(), "not root");
        CliRun run = CliRun.of("check", "--all");
        for (Feature f : Feature.values()) {
            assertTrue(run.out().lines().anyMatch(l -> l.matches(java.util.regex.Pattern.quote(f.featureName())
                    + "\\s+(yes|no)\\s+.*")), f.featureName() + " in " + run.out());
        }
    }
}
