package dev.cryo.engine.check;

import dev.cryo.engine.sys.probe.Clone3SetTid;
import dev.cryo.engine.sys.probe.Finding;
import dev.cryo.engine.sys.probe.KernelApis;
import dev.cryo.engine.sys.probe.PidfdGetfd;
import dev.cryo.engine.sys.probe.PrctlMmMap;
import dev.cryo.engine.sys.probe.SoftDirty;
import dev.cryo.engine.sys.probe.TcpRepair;
import dev.cryo.engine.sys.probe.TracedChild;
import dev.cryo.engine.sys.probe.UffdWriteProtect;

import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Probes the running kernel, each feature for real and at most once (one traced child answers for
 * ptrace and rseq; one userfaultfd session for the uffd features). Call from one thread: the ptrace
 * probe must attach and detach from the same thread.
 */
public final class KernelCheck {
    private final Map<Feature, Finding> found = new EnumMap<>(Feature.class);

    public Finding probe(Feature feature) {
        if (!found.containsKey(feature)) {
            run(feature);
        }
        return found.get(feature);
    }

    public CheckReport report(List<Feature> features) {
        List<CheckReport.Result> results = new ArrayList<>();
        for (Feature f : features) {
            results.add(new CheckReport.Result(f, probe(f)));
        }
        return new CheckReport(results, trackers());
    }

    /** The dirty-page trackers this kernel offers, best first; content hashes need nothing from the kernel. */
    public List<String> trackers() {
        List<String> trackers = new ArrayList<>();
        if (probe(Feature.UFFD_WP_ASYNC).present() && probe(Feature.PAGEMAP_SCAN).present()) {
            trackers.add("uffd-wp with PAGEMAP_SCAN");
        }
        if (probe(Feature.SOFT_DIRTY).present()) {
            trackers.add("soft-dirty");
        }
        trackers.add("content hashes");
        return trackers;
    }

    private void run(Feature feature) {
        switch (feature) {
            case PTRACE_SEIZE, RSEQ -> {
                TracedChild.Findings t = TracedChild.probe();
                found.put(Feature.PTRACE_SEIZE, t.seize());
                found.put(Feature.RSEQ, t.rseq());
            }
            case UFFD, UFFD_NONCOOP, UFFD_WP_ASYNC, PAGEMAP_SCAN -> {
                UffdWriteProtect.Findings u = UffdWriteProtect.probe();
                found.put(Feature.UFFD, u.uffd());
                found.put(Feature.UFFD_NONCOOP, u.noncoop());
                found.put(Feature.UFFD_WP_ASYNC, u.wpAsync());
                found.put(Feature.PAGEMAP_SCAN, u.pagemapScan());
            }
            case CLONE3_SET_TID -> found.put(feature, Clone3SetTid.probe());
            case PIDFD_GETFD -> found.put(feature, PidfdGetfd.probe());
            case PRCTL_MM_MAP -> found.put(feature, PrctlMmMap.probe());
            case TCP_REPAIR -> found.put(feature, TcpRepair.probe());
            case SOFT_DIRTY -> found.put(feature, softDirty());
            case VDSO_LAYOUT -> found.put(feature, vdso());
            case MEM_DIRTY_TRACK -> found.put(feature, memDirtyTrack());
            case SECCOMP_SUSPEND, SECCOMP_FILTERS, BREAKPOINTS -> {
                Finding[] t = KernelApis.tracedSeccompAndBreakpoints();
                found.put(Feature.SECCOMP_SUSPEND, t[0]);
                found.put(Feature.SECCOMP_FILTERS, t[1]);
                found.put(Feature.BREAKPOINTS, t[2]);
            }
            default -> found.put(feature, criuFeature(feature));
        }
    }

    /** The features only CRIU's check names: each probed on its own. */
    private Finding criuFeature(Feature feature) {
        return switch (feature) {
            case MNT_ID -> KernelApis.mntId();
            case AIO_REMAP -> KernelApis.aioRemap();
            case TIMERFD -> KernelApis.timerfd();
            case TUN -> KernelApis.tun();
            case TUN_NS -> KernelApis.tunNs();
            case USERNS -> KernelApis.userns();
            case FDINFO_LOCK -> KernelApis.fdinfoLock();
            case LOGINUID -> KernelApis.procFile("loginuid", null, "the audit login uid (/proc/self/loginuid)");
            case CGROUPNS -> KernelApis.namespace("cgroup", "cgroup namespaces");
            case TIMENS -> KernelApis.namespace("time", "time namespaces");
            case AUTOFS -> KernelApis.filesystem("autofs", "autofs");
            case TCP_HALF_CLOSED -> KernelApis.tcpHalfClosed();
            case COMPAT_CR -> KernelApis.mapVdso(0x2002 /* ARCH_MAP_VDSO_32 */, "32-bit vDSO mapping (ia32 emulation)");
            case CAN_MAP_VDSO -> KernelApis.mapVdso(0x2003 /* ARCH_MAP_VDSO_64 */, "vDSO mapping by arch_prctl");
            case SK_NS -> KernelApis.socketNetns();
            case SK_UNIX_FILE -> KernelApis.unixSocketFile();
            case NET_DIAG_RAW -> KernelApis.rawSocketDiag();
            case NSID -> KernelApis.netnsId();
            case LINK_NSID -> linkNsid();
            case KCMP_EPOLL -> KernelApis.kcmpEpoll();
            case EXTERNAL_NET_NS -> both(Feature.NSID, Feature.LINK_NSID, "network namespace ids for links");
            case NEWIFINDEX -> kernelAtLeast(5, 4, "IFLA_NEW_IFINDEX");
            case NFTABLES -> nfTables("nf_tables answers over netlink (cryo makes its network lock itself; nft is not needed)");
            case HAS_IPT_LEGACY -> {
                String ipt = KernelApis.executable("/usr/sbin/iptables-legacy", "/sbin/iptables-legacy",
                        "/usr/bin/iptables-legacy");
                yield ipt == null ? Finding.no("no iptables-legacy in /usr/sbin, /sbin or /usr/bin")
                        : KernelApis.program("iptables-legacy runs (" + ipt + ")", null, ipt, "--version");
            }
            case NS_PID -> KernelApis.procFile("status", "NSpid:", "NSpid in /proc/PID/status");
            case APPARMOR_STACKING -> apparmorStacking();
            case NETWORK_LOCK_NFTABLES -> nfTables("the kernel takes a network-lock table (checked, nothing applied)");
            case SOCKOPT_BUF_LOCK -> KernelApis.sockoptBufLock();
            case MEMFD_HUGETLB -> KernelApis.memfdHugetlb();
            case MOVE_MOUNT_SET_GROUP -> KernelApis.moveMountSetGroup();
            case OPENAT2 -> KernelApis.openat2();
            case IPV6_FREEBIND -> KernelApis.ipv6Freebind();
            case TIMER_CR_IDS -> KernelApis.timerRestoreIds();
            case OVERLAYFS_MAPS -> overlayfsMaps();
            case PAGEMAP_SCAN_GUARD_PAGES -> KernelApis.pagemapScanGuardPages();
            default -> Finding.no("no probe for " + feature.featureName());
        };
    }

    private Finding both(Feature a, Feature b, String what) {
        Finding fa = probe(a), fb = probe(b);
        return fa.present() && fb.present() ? Finding.yes(what + ": " + a.featureName() + " and " + b.featureName())
                : Finding.no("needs " + a.featureName() + " and " + b.featureName() + ": "
                + (fa.present() ? fb.detail() : fa.detail()));
    }

    /** A lock-shaped nf_tables transaction, checked by the kernel and aborted ({@link dev.cryo.engine.net.NetworkLock#check}). */
    private static Finding nfTables(String what) {
        String err = dev.cryo.engine.net.NetworkLock.check();
        return err == null ? Finding.yes(what) : Finding.no(err);
    }

    private static Finding linkNsid() {
        String veth = KernelConfig.running().flatMap(c -> c.value("CONFIG_VETH")).orElse("?");
        Finding version = kernelAtLeast(4, 0, "IFLA_LINK_NETNSID");
        if (!version.present()) {
            return version;
        }
        return veth.equals("n") ? Finding.no("CONFIG_VETH is not set: no veth pair can span namespaces")
                : Finding.yes(version.detail() + ", CONFIG_VETH=" + veth + " (from the kernel's version and config)");
    }

    private static Finding overlayfsMaps() {
        Finding fs = KernelApis.filesystem("overlay", "overlayfs");
        if (!fs.present()) {
            return fs;
        }
        Finding version = kernelAtLeast(4, 19, "maps of overlayfs files naming the overlay path");
        return version.present() ? Finding.yes(fs.detail() + "; " + version.detail()) : version;
    }

    /** The running kernel's release against the first one with a feature (used only where no call can tell). */
    static Finding kernelAtLeast(int major, int minor, String what) {
        try {
            String release = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/sys/kernel/osrelease")).strip();
            String[] v = release.split("[.-]");
            int ma = Integer.parseInt(v[0]), mi = Integer.parseInt(v[1]);
            boolean ok = ma > major || ma == major && mi >= minor;
            String detail = what + (ok ? " is in" : " is not in") + " kernel " + release + " (since " + major + "."
                    + minor + ")";
            return ok ? Finding.yes(detail) : Finding.no(detail);
        } catch (java.io.IOException | RuntimeException e) {
            return Finding.no("cannot read the kernel release: " + e.getMessage());
        }
    }

    private static Finding apparmorStacking() {
        java.nio.file.Path enabled = java.nio.file.Path.of("/sys/module/apparmor/parameters/enabled");
        java.nio.file.Path stack = java.nio.file.Path.of("/sys/kernel/security/apparmor/features/domain/stack");
        try {
            if (!java.nio.file.Files.exists(enabled)
                    || !java.nio.file.Files.readString(enabled).strip().equals("Y")) {
                return Finding.no("AppArmor is not enabled (/sys/module/apparmor/parameters/enabled)");
            }
            if (!java.nio.file.Files.exists(stack)) {
                return Finding.no("AppArmor has no domain stacking (" + stack + ")");
            }
            return java.nio.file.Files.readString(stack).strip().startsWith("yes")
                    ? Finding.yes("AppArmor stacks profiles (" + stack + ")")
                    : Finding.no("AppArmor does not stack profiles (" + stack + ")");
        } catch (java.io.IOException e) {
            return Finding.no("cannot read AppArmor's state: " + e.getMessage());
        }
    }

    private static Finding softDirty() {
        Finding f = SoftDirty.probe();
        String config = KernelConfig.running()
                .flatMap(c -> c.value("CONFIG_MEM_SOFT_DIRTY"))
                .map(v -> v.equals("n") ? "CONFIG_MEM_SOFT_DIRTY is not set" : "CONFIG_MEM_SOFT_DIRTY=" + v)
                .orElse(null);
        return config == null ? f : new Finding(f.present(), f.detail() + "; " + config + " (/proc/config.gz)");
    }

    private static Finding vdso() {
        try {
            VdsoLayout layout = VdsoLayout.ofSelf();
            if (layout.movable()) {
                return Finding.yes(layout.describe() + ": restore moves them as one block");
            }
            return Finding.no(layout.describe() + ": not a layout restore knows how to move");
        } catch (IOException e) {
            return Finding.no("cannot read /proc/self/maps: " + e.getMessage());
        }
    }

    private Finding memDirtyTrack() {
        List<String> kernelTrackers = trackers().subList(0, trackers().size() - 1);
        return kernelTrackers.isEmpty()
                ? Finding.no("neither soft-dirty nor uffd-wp with PAGEMAP_SCAN; only content hashes remain")
                : Finding.yes("kernel tracker: " + String.join(", ", kernelTrackers));
    }
}
