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
    UFFD_NONCOOP("uffd-noncoop", Need.EXTRA, "CRIU's lazy pages"),
    // CRIU 4.2's other feature names: what the kernel offers, probed; the purpose says what they are for
    MNT_ID("mnt_id", Need.EXTRA, "the mount an open file lives on (fdinfo mnt_id)"),
    AIO_REMAP("aio_remap", Need.EXTRA, "moving AIO rings on restore"),
    TIMERFD("timerfd", Need.EXTRA, "restoring timerfd ticks"),
    TUN("tun", Need.EXTRA, "tun devices"),
    TUN_NS("tun_ns", Need.EXTRA, "tun devices in other network namespaces"),
    USERNS("userns", Need.EXTRA, "user namespaces"),
    FDINFO_LOCK("fdinfo_lock", Need.EXTRA, "file locks (--file-locks)"),
    SECCOMP_SUSPEND("seccomp_suspend", Need.EXTRA, "Cryo's own syscalls in a task under seccomp (dump and restore)"),
    SECCOMP_FILTERS("seccomp_filters", Need.EXTRA, "dumping seccomp filters and their flags"),
    LOGINUID("loginuid", Need.EXTRA, "the audit login uid"),
    CGROUPNS("cgroupns", Need.EXTRA, "cgroup namespaces"),
    AUTOFS("autofs", Need.EXTRA, "autofs mounts"),
    TCP_HALF_CLOSED("tcp_half_closed", Need.EXTRA, "half-closed TCP connections"),
    COMPAT_CR("compat_cr", Need.EXTRA, "32-bit tasks"),
    CAN_MAP_VDSO("can_map_vdso", Need.EXTRA, "mapping a vDSO on restore"),
    SK_NS("sk_ns", Need.EXTRA, "a socket's network namespace"),
    SK_UNIX_FILE("sk_unix_file", Need.EXTRA, "the file of a bound unix socket"),
    NET_DIAG_RAW("net_diag_raw", Need.EXTRA, "raw sockets"),
    NSID("nsid", Need.EXTRA, "network namespace ids"),
    LINK_NSID("link_nsid", Need.EXTRA, "links into other network namespaces"),
    KCMP_EPOLL("kcmp_epoll", Need.EXTRA, "epoll targets"),
    TIMENS("timens", Need.EXTRA, "time namespaces"),
    EXTERNAL_NET_NS("external_net_ns", Need.EXTRA, "external network namespaces"),
    NEWIFINDEX("newifindex", Need.EXTRA, "devices keeping their index"),
    NFTABLES("nftables", Need.EXTRA, "nf_tables (cryo's network lock, made over netlink)"),
    HAS_IPT_LEGACY("has_ipt_legacy", Need.EXTRA, "iptables-legacy"),
    NS_PID("ns_pid", Need.EXTRA, "pids in nested pid namespaces (NSpid)"),
    APPARMOR_STACKING("apparmor_stacking", Need.EXTRA, "stacked AppArmor profiles"),
    NETWORK_LOCK_NFTABLES("network_lock_nftables", Need.EXTRA, "the nftables network lock"),
    SOCKOPT_BUF_LOCK("sockopt_buf_lock", Need.EXTRA, "locked socket buffer sizes"),
    MEMFD_HUGETLB("memfd_hugetlb", Need.EXTRA, "hugetlb memfd"),
    MOVE_MOUNT_SET_GROUP("move_mount_set_group", Need.EXTRA, "mount sharing groups"),
    OPENAT2("openat2", Need.EXTRA, "openat2"),
    IPV6_FREEBIND("ipv6_freebind", Need.EXTRA, "IPv6 freebind sockets"),
    TIMER_CR_IDS("timer_cr_ids", Need.EXTRA, "POSIX timers keeping their ids"),
    OVERLAYFS_MAPS("overlayfs_maps", Need.EXTRA, "files mapped from overlayfs"),
    BREAKPOINTS("breakpoints", Need.EXTRA, "hardware breakpoints"),
    PAGEMAP_SCAN_GUARD_PAGES("pagemap_scan_guard_pages", Need.EXTRA, "guard pages (MADV_GUARD_INSTALL)");

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

    /** The features a plain {@code cryo check} prints; {@code --extra} adds the CRIU extras. */
    public static List<Feature> listed(boolean extra) {
        return listed(extra, false);
    }

    /** As {@link #listed(boolean)}; {@code all} gives the whole table, summaries included ({@code --all}). */
    public static List<Feature> listed(boolean extra, boolean all) {
        List<Feature> list = new ArrayList<>();
        for (Feature f : values()) {
            if (all || f.need != Need.SUMMARY && (extra || f.need != Need.EXTRA)) {
                list.add(f);
            }
        }
        return list;
    }
}
