package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.ContentHashTracker;
import dev.cryo.engine.mem.DirtyTracker;
import dev.cryo.engine.mem.PageHashes;
import dev.cryo.engine.mem.SoftDirtyTracker;
import dev.cryo.engine.mem.UffdKeeper;
import dev.cryo.engine.mem.UffdWpTracker;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.sys.probe.Finding;
import dev.cryo.engine.sys.probe.SoftDirty;
import dev.cryo.engine.sys.probe.UffdWriteProtect;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Which trackers a dump uses: the one its parent armed (to learn what was written since), and the best one
 * available to arm for the next dump. The order of preference is uffd-wp, soft-dirty, content-hash; the
 * {@code cryo.trackers} system property or the {@code CRYO_TRACKERS} environment variable narrows or reorders
 * it (a comma list), e.g. to test one tracker or to forbid reading all memory.
 */
public final class MemoryTracking {
    static final List<String> DEFAULT_ORDER = List.of("uffd-wp", "soft-dirty", "content-hash");

    /** Soft-dirty access; tests replace it where the kernel has none. */
    private static volatile SoftDirtyTracker.Kernel softDirtyKernel = SoftDirtyTracker.PROC;
    private static volatile Supplier<Finding> softDirtyProbe = SoftDirty::probe;

    /** For tests on kernels without soft-dirty: a stand-in kernel and its probe; null puts the real ones back. */
    public static void standInForSoftDirty(SoftDirtyTracker.Kernel kernel, Supplier<Finding> probe) {
        softDirtyKernel = kernel == null ? SoftDirtyTracker.PROC : kernel;
        softDirtyProbe = probe == null ? SoftDirty::probe : probe;
    }

    private MemoryTracking() {
    }

    static List<String> order() {
        String s = System.getProperty("cryo.trackers", System.getenv("CRYO_TRACKERS"));
        if (s == null || s.isBlank()) {
            return DEFAULT_ORDER;
        }
        List<String> out = new ArrayList<>();
        for (String t : s.split(",")) {
            out.add(t.trim());
        }
        return out;
    }

    /** Why {@code name} cannot track {@code pid}, or null when it can. */
    static String unavailable(String name, int pid, ProcFs proc) {
        switch (name) {
            case "uffd-wp" -> {
                UffdWriteProtect.Findings f = UffdWriteProtect.probe();
                if (!f.wpAsync().present()) {
                    return f.wpAsync().detail();
                }
                if (!f.pagemapScan().present()) {
                    return f.pagemapScan().detail();
                }
                try {
                    for (FdInfo fd : proc.fds(pid)) {
                        if (fd.target().equals("anon_inode:[userfaultfd]")) {
                            // its registrations and ours would collide (EBUSY), and it would see ours
                            return "pid " + pid + " has a userfaultfd of its own (fd " + fd.fd() + ")";
                        }
                    }
                } catch (IOException e) {
                    return "cannot list the fds of pid " + pid + ": " + e.getMessage();
                }
                return null;
            }
            case "soft-dirty" -> {
                Finding f = softDirtyProbe.get();
                return f.present() ? null : f.detail();
            }
            case "content-hash" -> {
                return null;
            }
            default -> {
                return "no tracker is called '" + name + "' (known: " + String.join(", ", DEFAULT_ORDER) + ")";
            }
        }
    }

    /** The best available tracker's name; fails, naming every reason, when there is none. */
    static String best(int pid, ProcFs proc, Log log) throws CryoException {
        List<String> why = new ArrayList<>();
        for (String name : order()) {
            String no = unavailable(name, pid, proc);
            if (no == null) {
                log.info("memory tracker: %s", name);
                return name;
            }
            log.info("memory tracker %s is not available: %s", name, no);
            why.add(name + ": " + no);
        }
        throw new CryoException("cannot dump pid " + pid + ": --track-mem: no memory tracker is available ("
                + String.join("; ", why) + ")");
    }

    /**
     * A tracker instance of {@code name}; {@code prev} is the previous dump's directory and state (null when
     * starting fresh). Returns null when the previous state cannot be trusted (then everything is written).
     */
    static DirtyTracker create(String name, int pid, long startTime, Path prevDir, TrackState prev, Log log) {
        return create(name, pid, startTime, prevDir, prev, log, UffdKeeper.of(pid, startTime), PageHashes.FILE);
    }

    /**
     * As above, for one task of a tree: {@code keepers} are its live uffd-wp keepers (found for the whole tree in
     * one walk of /proc), {@code hashesFile} the file its content hashes go to in the images directory.
     */
    static DirtyTracker create(String name, int pid, long startTime, Path prevDir, TrackState prev, Log log,
                               List<UffdKeeper> keepers, String hashesFile) {
        switch (name) {
            case "uffd-wp" -> {
                return new UffdWpTracker(log, pid, startTime, keepers);
            }
            case "soft-dirty" -> {
                return new SoftDirtyTracker(softDirtyKernel, pid);
            }
            case "content-hash" -> {
                PageHashes previous = null;
                if (prev != null && prev.tracker().equals("content-hash")) {
                    try {
                        String file = prev.extra().getOrDefault("hashes", PageHashes.FILE);
                        // a file of that directory, whatever the track state says
                        previous = ContentHashTracker.load(prevDir, file.contains("/") ? PageHashes.FILE : file);
                    } catch (IOException e) {
                        log.warn("cannot read the previous page hashes (%s); every page counts as written", e.getMessage());
                    }
                }
                return new ContentHashTracker(log, pid, previous, hashesFile);
            }
            default -> {
                return null;
            }
        }
    }
}
