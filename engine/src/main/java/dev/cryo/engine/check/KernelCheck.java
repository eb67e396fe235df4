package dev.cryo.engine.check;

import dev.cryo.engine.sys.probe.Clone3SetTid;
import dev.cryo.engine.sys.probe.Finding;
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
