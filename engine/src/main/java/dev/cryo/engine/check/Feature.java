package dev.cryo.engine.check;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A kernel feature {@code cryo check} probes. Names follow CRIU's {@code check --feature} names where CRIU
 * has one (kept as aliases when Cryo's own name says more).
 */
public enum Feature {
    PTRACE_SEIZE("ptrace_seize", Need.REQUIRED, "freezing a tree without stopping it for real"),
    RSEQ("rseq", Need.REQUIRED, "dump and restore of each thread's rseq area", "get_rseq_conf"),
    CLONE3_SET_TID("clone3_set_tid", Need.REQUIRED, "restoring processes with their own pids"),
    PIDFD_GETFD("pidfd_getfd", Need.REQUIRED, "taking a process's files into the engine", "pidfd_store"),
    PRCTL_MM_MAP("prctl_mm_map", Need.REQUIRED, "restoring brk, stack, arguments, auxv and exe"),
    VDSO_LAYOUT("vdso_layout", Need.REQUIRED, "moving the vDSO to where the image had it"),
    TCP_REPAIR("tcp_repair", Need.FOR_OPTION, "--tcp-established"),
    SOFT_DIRTY("soft_dirty", Need.TRACKER, "soft-dirty"),
    UFFD_WP_ASYNC("uffd_wp_async", Need.TRACKER, "uffd-wp"),
    PAGEMAP_SCAN("pagemap_scan", Need.TRACKER, "uffd-wp"),
    MEM_DIRTY_TRACK("mem_dirty_track", Need.SUMMARY, "--track-mem and pre-dump with a kernel tracker"),
    UFFD("uffd", Need.EXTRA, "CRIU's lazy pages"),
    UFFD_NONCOOP("uffd-noncoop", Need.EXTRA, "CRIU's lazy pages");

    /** How much the engine depends on a feature. */
    public enum Need {
        /** Dump or restore cannot work without it. */
        REQUIRED,
        /** Only the option named in {@link Feature#purpose()} needs it. */
        FOR_OPTION,
        /** One way of tracking dirty pages; content hashes always remain. */
        TRACKER,
        /** Derived from other features. */
        SUMMARY,
        /** Reported for tools that ask CRIU for it; Cryo does not use it. */
        EXTRA
    }

    private final String name;
    private final Need need;
    private final String purpose;
    private final List<String> aliases;

    Feature(String name, Need need, String purpose, String... aliases) {
        this.name = name;
        this.need = need;
        this.purpose = purpose;
        this.aliases = List.of(aliases);
    }

    public String featureName() {
        return name;
    }

    public Need need() {
        return need;
    }

    /** What the engine uses it for (the option, for FOR_OPTION; the tracker, for TRACKER). */
    public String purpose() {
        return purpose;
    }

    public List<String> aliases() {
        return aliases;
    }

    /** The feature a {@code --feature NAME} means, by its name or a CRIU alias. */
    public static Optional<Feature> byName(String name) {
        for (Feature f : values()) {
            if (f.name.equals(name) || f.aliases.contains(name)) {
                return Optional.of(f);
            }
        }
        return Optional.empty();
    }

    /** Every name {@code --feature} accepts, aliases included. */
    public static List<String> names() {
        List<String> all = new ArrayList<>();
        for (Feature f : values()) {
            all.add(f.name);
            all.addAll(f.aliases);
        }
        return all;
    }

    /** The features a plain {@code cryo check} prints; {@code --extra}/{@code --all} add the CRIU extras. */
    public static List<Feature> listed(boolean extra) {
        List<Feature> list = new ArrayList<>();
        for (Feature f : values()) {
            if (f.need != Need.SUMMARY && (extra || f.need != Need.EXTRA)) {
                list.add(f);
            }
        }
        return list;
    }
}
