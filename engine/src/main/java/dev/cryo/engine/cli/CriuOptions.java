package dev.cryo.engine.cli;

import dev.cryo.engine.resource.FileOptions;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The rest of CRIU 4.2's options, which dump, pre-dump and restore all accept as CRIU's getopt does. Each one
 * either works, or has no meaning in Cryo's design and says so in its description, or is refused with a
 * one-line reason when it asks for a behaviour Cryo does not have ({@link #refusals}). Tools that pass CRIU's
 * options as a matter of course never see "unknown option".
 */
final class CriuOptions {
    // ---- the tree and how it ends
    @Option(names = {"-s", "--leave-stopped"}, order = 100,
            description = "dump: leave the tree stopped (SIGSTOP) instead of killed; restore: leave the restored tree stopped")
    boolean leaveStopped;

    @Option(names = {"-S", "--restore-sibling"}, negatable = true, order = 101,
            description = "restore the root as a sibling of cryo: refused, the restored root is always cryo's child "
                    + "(with -d it is reparented when cryo exits); ignored by dump")
    boolean restoreSibling;

    @Option(names = "--exec-cmd", order = 102,
            description = "restore: once the tree runs, cryo execs the command given after '--', which thus becomes "
                    + "the restored root's parent; ignored by dump")
    boolean execCmd;

    @Option(names = "--action-script", paramLabel = "FILE", order = 103,
            description = "run FILE with CRTOOLS_SCRIPT_ACTION set at pre-dump and post-dump, or at pre-restore, "
                    + "post-restore, pre-resume and post-resume (CRTOOLS_INIT_PID names the root); repeatable")
    List<String> actionScripts = new ArrayList<>();

    @Option(names = "--display-stats", negatable = true, order = 104,
            description = "print the dump's or restore's statistics (from stats-dump/stats-restore) when done")
    boolean displayStats;

    // ---- files (see FileOptions)
    @Option(names = {"-l", "--file-locks"}, negatable = true, order = 110,
            description = "dump and restore file locks (flock, POSIX, OFD); without it a locked file is refused")
    boolean fileLocks;

    @Option(names = "--link-remap", negatable = true, order = 111,
            description = "an open file that was unlinked may be linked back under a temporary name")
    boolean linkRemap;

    @Option(names = "--ghost-limit", paramLabel = "SIZE", order = 112,
            description = "largest deleted file whose contents go into the images (K, M, G suffixes; default 1M)")
    String ghostLimit;

    @Option(names = "--ghost-fiemap", negatable = true, order = 113,
            description = "copy deleted files by their extents, holes staying holes")
    boolean ghostFiemap;

    @Option(names = "--inherit-fd", paramLabel = "fd[N]:RES", order = 114,
            description = "restore: the tree's fd for RES (pipe:[INO], socket:[INO], tty[rdev:dev], file[mnt_id:ino], "
                    + "/memfd:NAME or a path) is cryo's fd N; repeatable")
    List<String> inheritFds = new ArrayList<>();

    @Option(names = "--external", paramLabel = "RES", order = 115,
            description = "an object outside the tree: unix[ino] dumps the tree's unix socket ino whatever its other "
                    + "end (restore: --inherit-fd fd[N]:socket:[ino]); tty[rdev:dev] dumps that terminal though its "
                    + "master is outside, without -j (restore: --inherit-fd fd[N]:tty[rdev:dev]); file[mnt_id:inode] "
                    + "has no effect (cryo reopens files by path); mnt[], dev[], veth[], macvlan[], netdev[] name "
                    + "namespace objects, which cryo does not dump (no meaning); repeatable")
    List<String> external = new ArrayList<>();

    @Option(names = "--evasive-devices", negatable = true, order = 116,
            description = "a device file may be reopened through any path to the same device")
    boolean evasiveDevices;

    @Option(names = "--file-validation", paramLabel = "filesize|buildid", order = 117,
            description = "how mapped files are checked against the images: buildid (default: the size and the ELF "
                    + "build-id) or filesize")
    String fileValidation;

    @Option(names = "--skip-file-rwx-check", negatable = true, order = 118,
            description = "restore: do not compare files' permission bits with the images")
    boolean skipFileRwxCheck;

    @Option(names = "--force-irmap", negatable = true, order = 119,
            description = "resolve the paths of inotify/fanotify watches even where a handle would do")
    boolean forceIrmap;

    @Option(names = "--irmap-scan-path", paramLabel = "PATH", order = 120,
            description = "where to look for the paths of watched inodes; repeatable")
    List<String> irmapScanPaths = new ArrayList<>();

    // ---- network
    @Option(names = {"--skip-in-flight", "--tcp-skip-in-flight"}, negatable = true, order = 130,
            description = "dump: connections a listener has not accepted yet are left out instead of refused")
    boolean skipInFlight;

    @Option(names = "--network-lock", paramLabel = "METHOD", order = 131,
            description = "how connections are held from dump to restore: nftables (default: a table of cryo's), "
                    + "iptables (CRIU's rules, which CRIU's restore lifts too) or skip (no lock: the caller holds the "
                    + "traffic)")
    String networkLock;

    @Option(names = "--veth-pair", paramLabel = "IN=OUT", order = 132,
            description = "no meaning: cryo restores into its own network namespace and creates no devices; repeatable")
    List<String> vethPairs = new ArrayList<>();

    @Option(names = "--empty-ns", paramLabel = "net", order = 133,
            description = "restore: a container's network namespace is made new and empty (cryo restores no "
                    + "network devices; runc asks for this)")
    String emptyNs;

    @Option(names = "--weak-sysctls", negatable = true, order = 134,
            description = "no meaning: cryo restores no namespace sysctls")
    boolean weakSysctls;

    // ---- namespaces, mounts, cgroups, LSM: cryo restores into the namespaces and cgroup it runs in
    @Option(names = {"-J", "--join-ns"}, paramLabel = "NS:PID|FILE", order = 140,
            description = "restore: the tree joins this existing namespace instead of the one its images "
                    + "describe: net, uts or ipc, by a pid's (net:PID) or a namespace file (net:/run/netns/NAME); "
                    + "ignored by dump; repeatable")
    List<String> joinNs = new ArrayList<>();

    @Option(names = {"-r", "--root"}, paramLabel = "PATH", order = 141,
            description = "restore: the root mount of a container's images (their mount namespace is rebuilt on "
                    + "it); refused for images of a tree without a mount namespace of its own; ignored by dump")
    String root;

    @Option(names = "--manage-cgroups", paramLabel = "MODE", arity = "0..1", fallbackValue = "soft", order = 142,
            description = "restore: none, props, soft (default), full, strict or ignore: each task goes back into the "
                    + "cgroups it was in (cgroup.img) where they were not cryo's own at the dump; soft, full and strict "
                    + "make a missing cgroup, none and props need it to exist, ignore leaves the tree in cryo's "
                    + "cgroups; no cgroup properties are dumped or set")
    String manageCgroups;

    @Option(names = "--cgroup-root", paramLabel = "[CTRL:]PATH", order = 143,
            description = "restore: the root task's cgroup (and all below it) is PATH instead, in controller CTRL "
                    + "or, without CTRL, in every one (runc's cg_root); repeatable")
    List<String> cgroupRoots = new ArrayList<>();

    @Option(names = "--cgroup-props", paramLabel = "STRING", order = 144, description = "no meaning: no cgroups are dumped")
    String cgroupProps;

    @Option(names = "--cgroup-props-file", paramLabel = "FILE", order = 145, description = "no meaning: no cgroups are dumped")
    String cgroupPropsFile;

    @Option(names = "--cgroup-dump-controller", paramLabel = "NAME", order = 146,
            description = "no meaning: no cgroups are dumped; repeatable")
    List<String> cgroupDumpControllers = new ArrayList<>();

    @Option(names = "--cgroup-yard", paramLabel = "PATH", order = 147, description = "no meaning: cryo mounts no cgroups")
    String cgroupYard;

    @Option(names = "--freeze-cgroup", paramLabel = "PATH", order = 148,
            description = "dump: the freezer cgroup (v1 freezer.state, v2 cgroup.freeze) holding exactly the tree; "
                    + "cryo freezes it, seizes every thread while it is frozen, then thaws it with the tree stopped "
                    + "by ptrace; a cgroup frozen before the dump is left frozen; ignored by restore")
    String freezeCgroup;

    @Option(names = {"-M", "--ext-mount-map"}, paramLabel = "KEY:VAL", order = 149,
            description = "a container's external mount, as --external mnt[KEY]:VAL (dump: mountpoint to key; "
                    + "restore: key to host path); repeatable")
    List<String> extMountMaps = new ArrayList<>();

    @Option(names = "--skip-mnt", paramLabel = "PATH", order = 150,
            description = "no meaning: cryo dumps no mount namespace; repeatable")
    List<String> skipMounts = new ArrayList<>();

    @Option(names = "--enable-fs", paramLabel = "FSNAMES", order = 151,
            description = "no meaning: cryo dumps no mount namespace; repeatable")
    List<String> enableFs = new ArrayList<>();

    @Option(names = "--enable-external-sharing", order = 152, description = "no meaning: cryo dumps no mount namespace")
    boolean enableExternalSharing;

    @Option(names = "--enable-external-masters", order = 153, description = "no meaning: cryo dumps no mount namespace")
    boolean enableExternalMasters;

    @Option(names = "--mntns-compat-mode", negatable = true, order = 154,
            description = "no meaning: cryo restores no mount namespace")
    boolean mntnsCompatMode;

    @Option(names = "--lsm-profile", paramLabel = "TYPE:NAME", order = 155,
            description = "restore: refused, cryo does not set AppArmor or SELinux profiles; ignored by dump")
    String lsmProfile;

    @Option(names = "--lsm-mount-context", paramLabel = "CTX", order = 156,
            description = "no meaning: cryo restores no mounts")
    String lsmMountContext;

    // ---- memory and transport: what cryo does not have is refused
    @Option(names = "--lazy-pages", order = 160,
            description = "refused: cryo has no lazy-pages daemon; memory is restored before the tree runs")
    boolean lazyPages;

    @Option(names = "--page-server", negatable = true, order = 161,
            description = "refused: cryo has no page server; images are written to and read from -D")
    boolean pageServer;

    @Option(names = "--stream", negatable = true, order = 162,
            description = "refused: cryo does not speak to criu-image-streamer; images are files in -D")
    boolean stream;

    @Option(names = "--auto-dedup", negatable = true, order = 163,
            description = "accepted; cryo punches no holes: parent images keep their pages, which costs disk space only")
    boolean autoDedup;

    @Option(names = "--address", paramLabel = "ADDR", order = 164, description = "page server address: no meaning without a page server")
    String address;

    @Option(names = "--port", paramLabel = "PORT", order = 165, description = "page server port: no meaning without a page server")
    String port;

    @Option(names = "--ps-socket", paramLabel = "FD", order = 166, description = "page server socket: no meaning without a page server")
    String psSocket;

    @Option(names = "--tls", negatable = true, order = 167, description = "page server TLS: no meaning without a page server")
    boolean tls;

    @Option(names = "--tls-cacert", paramLabel = "FILE", order = 168, description = "page server TLS: no meaning without a page server")
    String tlsCacert;

    @Option(names = "--tls-cacrl", paramLabel = "FILE", order = 169, description = "page server TLS: no meaning without a page server")
    String tlsCacrl;

    @Option(names = "--tls-cert", paramLabel = "FILE", order = 170, description = "page server TLS: no meaning without a page server")
    String tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE", order = 171, description = "page server TLS: no meaning without a page server")
    String tlsKey;

    @Option(names = "--tls-no-cn-verify", order = 172, description = "page server TLS: no meaning without a page server")
    boolean tlsNoCnVerify;

    @Option(names = "--status-fd", paramLabel = "FD", order = 173,
            description = "for CRIU's page-server, service and lazy-pages daemons: no meaning for dump and restore")
    String statusFd;

    // ---- the engine itself
    @Option(names = "--cpu-cap", paramLabel = "CAP", arity = "0..1", fallbackValue = "all", order = 180,
            description = "cpu, fpu, all, ins, none, ^CAP: cryo writes no cpuinfo image; restore always checks that "
                    + "this CPU's xsave features hold the image's FPU state")
    String cpuCap;

    @Option(names = {"-L", "--libdir"}, paramLabel = "DIR", order = 181, description = "no meaning: cryo loads no plugins")
    String libdir;

    @Option(names = "--log-pid", negatable = true, order = 182,
            description = "no meaning: cryo logs every task of a run to the one -o file, each line naming its pid")
    boolean logPid;

    @Option(names = "--unprivileged", negatable = true, order = 183,
            description = "accepted: cryo needs no more than each operation asks, and says which one fails and why")
    boolean unprivileged;

    @Option(names = "--allow-uprobes", negatable = true, order = 184,
            description = "dump: a [uprobes] mapping (the kernel's uprobe trampolines) is left out instead of refused")
    boolean allowUprobes;

    @Option(names = "--deprecated", negatable = true, order = 185, description = "no meaning: cryo has no deprecated features to turn on")
    boolean deprecated;

    @Option(names = "--close", paramLabel = "FD", order = 186,
            description = "no meaning: restored tasks never inherit cryo's fds; repeatable")
    List<String> closeFds = new ArrayList<>();

    @Option(names = "--ms", order = 187, description = "refused, as CRIU refuses it: see 'cryo check'")
    boolean ms;

    @Option(names = "--config", paramLabel = "FILE", order = 188,
            description = "read options from FILE first, one per line in CRIU's format ('tcp-established', "
                    + "'log-file dump.log'; # starts a comment)")
    String config;

    /** The options of this class as {@link QuickParse} reads them. */
    static final List<QuickParse.Opt> QUICK = List.of(
            opt('s', QuickParse.Kind.FLAG, "leave-stopped"),
            opt('S', QuickParse.Kind.NEGATABLE, "restore-sibling"),
            opt(0, QuickParse.Kind.FLAG, "exec-cmd"),
            opt(0, QuickParse.Kind.VALUE, "action-script"),
            opt(0, QuickParse.Kind.NEGATABLE, "display-stats"),
            opt('l', QuickParse.Kind.NEGATABLE, "file-locks"),
            opt(0, QuickParse.Kind.NEGATABLE, "link-remap"),
            opt(0, QuickParse.Kind.VALUE, "ghost-limit"),
            opt(0, QuickParse.Kind.NEGATABLE, "ghost-fiemap"),
            opt(0, QuickParse.Kind.VALUE, "inherit-fd"),
            opt(0, QuickParse.Kind.VALUE, "external"),
            opt(0, QuickParse.Kind.NEGATABLE, "evasive-devices"),
            opt(0, QuickParse.Kind.VALUE, "file-validation"),
            opt(0, QuickParse.Kind.NEGATABLE, "skip-file-rwx-check"),
            opt(0, QuickParse.Kind.NEGATABLE, "force-irmap"),
            opt(0, QuickParse.Kind.VALUE, "irmap-scan-path"),
            opt(0, QuickParse.Kind.NEGATABLE, "skip-in-flight", "tcp-skip-in-flight"),
            opt(0, QuickParse.Kind.VALUE, "network-lock"),
            opt(0, QuickParse.Kind.VALUE, "veth-pair"),
            opt(0, QuickParse.Kind.VALUE, "empty-ns"),
            opt(0, QuickParse.Kind.NEGATABLE, "weak-sysctls"),
            opt('J', QuickParse.Kind.VALUE, "join-ns"),
            opt('r', QuickParse.Kind.VALUE, "root"),
            opt(0, QuickParse.Kind.OPTIONAL_VALUE, "manage-cgroups"),
            opt(0, QuickParse.Kind.VALUE, "cgroup-root"),
            opt(0, QuickParse.Kind.VALUE, "cgroup-props"),
            opt(0, QuickParse.Kind.VALUE, "cgroup-props-file"),
            opt(0, QuickParse.Kind.VALUE, "cgroup-dump-controller"),
            opt(0, QuickParse.Kind.VALUE, "cgroup-yard"),
            opt(0, QuickParse.Kind.VALUE, "freeze-cgroup"),
            opt('M', QuickParse.Kind.VALUE, "ext-mount-map"),
            opt(0, QuickParse.Kind.VALUE, "skip-mnt"),
            opt(0, QuickParse.Kind.VALUE, "enable-fs"),
            opt(0, QuickParse.Kind.FLAG, "enable-external-sharing"),
            opt(0, QuickParse.Kind.FLAG, "enable-external-masters"),
            opt(0, QuickParse.Kind.NEGATABLE, "mntns-compat-mode"),
            opt(0, QuickParse.Kind.VALUE, "lsm-profile"),
            opt(0, QuickParse.Kind.VALUE, "lsm-mount-context"),
            opt(0, QuickParse.Kind.FLAG, "lazy-pages"),
            opt(0, QuickParse.Kind.NEGATABLE, "page-server"),
            opt(0, QuickParse.Kind.NEGATABLE, "stream"),
            opt(0, QuickParse.Kind.NEGATABLE, "auto-dedup"),
            opt(0, QuickParse.Kind.VALUE, "address"),
            opt(0, QuickParse.Kind.VALUE, "port"),
            opt(0, QuickParse.Kind.VALUE, "ps-socket"),
            opt(0, QuickParse.Kind.NEGATABLE, "tls"),
            opt(0, QuickParse.Kind.VALUE, "tls-cacert"),
            opt(0, QuickParse.Kind.VALUE, "tls-cacrl"),
            opt(0, QuickParse.Kind.VALUE, "tls-cert"),
            opt(0, QuickParse.Kind.VALUE, "tls-key"),
            opt(0, QuickParse.Kind.FLAG, "tls-no-cn-verify"),
            opt(0, QuickParse.Kind.VALUE, "status-fd"),
            opt(0, QuickParse.Kind.OPTIONAL_VALUE, "cpu-cap"),
            opt('L', QuickParse.Kind.VALUE, "libdir"),
            opt(0, QuickParse.Kind.NEGATABLE, "log-pid"),
            opt(0, QuickParse.Kind.NEGATABLE, "unprivileged"),
            opt(0, QuickParse.Kind.NEGATABLE, "allow-uprobes"),
            opt(0, QuickParse.Kind.NEGATABLE, "deprecated"),
            opt(0, QuickParse.Kind.VALUE, "close"),
            opt(0, QuickParse.Kind.FLAG, "ms"),
            opt(0, QuickParse.Kind.VALUE, "config"));

    private static QuickParse.Opt opt(int shortName, QuickParse.Kind kind, String... names) {
        return new QuickParse.Opt((char) shortName, kind, names);
    }

    /** Sets the option {@code key} of {@link #QUICK}; false when the key is not one of them. */
    boolean set(String key, String value) {
        boolean on = Boolean.parseBoolean(value);
        switch (key) {
            case "leave-stopped" -> leaveStopped = on;
            case "restore-sibling" -> restoreSibling = on;
            case "exec-cmd" -> execCmd = on;
            case "action-script" -> actionScripts.add(value);
            case "display-stats" -> displayStats = on;
            case "file-locks" -> fileLocks = on;
            case "link-remap" -> linkRemap = on;
            case "ghost-limit" -> ghostLimit = value;
            case "ghost-fiemap" -> ghostFiemap = on;
            case "inherit-fd" -> inheritFds.add(value);
            case "external" -> external.add(value);
            case "evasive-devices" -> evasiveDevices = on;
            case "file-validation" -> fileValidation = value;
            case "skip-file-rwx-check" -> skipFileRwxCheck = on;
            case "force-irmap" -> forceIrmap = on;
            case "irmap-scan-path" -> irmapScanPaths.add(value);
            case "skip-in-flight" -> skipInFlight = on;
            case "network-lock" -> networkLock = value;
            case "veth-pair" -> vethPairs.add(value);
            case "empty-ns" -> emptyNs = value;
            case "weak-sysctls" -> weakSysctls = on;
            case "join-ns" -> joinNs.add(value);
            case "root" -> root = value;
            // picocli gives an absent optional value as the fallback value
            case "manage-cgroups" -> manageCgroups = value.isEmpty() ? "soft" : value;
            case "cgroup-root" -> cgroupRoots.add(value);
            case "cgroup-props" -> cgroupProps = value;
            case "cgroup-props-file" -> cgroupPropsFile = value;
            case "cgroup-dump-controller" -> cgroupDumpControllers.add(value);
            case "cgroup-yard" -> cgroupYard = value;
            case "freeze-cgroup" -> freezeCgroup = value;
            case "ext-mount-map" -> extMountMaps.add(value);
            case "skip-mnt" -> skipMounts.add(value);
            case "enable-fs" -> enableFs.add(value);
            case "enable-external-sharing" -> enableExternalSharing = on;
            case "enable-external-masters" -> enableExternalMasters = on;
            case "mntns-compat-mode" -> mntnsCompatMode = on;
            case "lsm-profile" -> lsmProfile = value;
            case "lsm-mount-context" -> lsmMountContext = value;
            case "lazy-pages" -> lazyPages = on;
            case "page-server" -> pageServer = on;
            case "stream" -> stream = on;
            case "auto-dedup" -> autoDedup = on;
            case "address" -> address = value;
            case "port" -> port = value;
            case "ps-socket" -> psSocket = value;
            case "tls" -> tls = on;
            case "tls-cacert" -> tlsCacert = value;
            case "tls-cacrl" -> tlsCacrl = value;
            case "tls-cert" -> tlsCert = value;
            case "tls-key" -> tlsKey = value;
            case "tls-no-cn-verify" -> tlsNoCnVerify = on;
            case "status-fd" -> statusFd = value;
            case "cpu-cap" -> cpuCap = value.isEmpty() ? "all" : value;
            case "libdir" -> libdir = value;
            case "log-pid" -> logPid = on;
            case "unprivileged" -> unprivileged = on;
            case "allow-uprobes" -> allowUprobes = on;
            case "deprecated" -> deprecated = on;
            case "close" -> closeFds.add(value);
            case "ms" -> ms = on;
            case "config" -> config = value;
            default -> {
                return false;
            }
        }
        return true;
    }

    private static final Set<String> CGROUP_MODES = Set.of("none", "props", "soft", "full", "strict", "ignore");
    private static final Set<String> CPU_CAPS = Set.of("cpu", "fpu", "all", "ins", "none");

    /** CRIU's checks of the values, in CRIU's words: "invalid argument for --OPTION: VALUE". */
    void validate() throws UsageError {
        if (manageCgroups != null && !CGROUP_MODES.contains(manageCgroups)) {
            throw new UsageError("unknown cgroups mode '" + manageCgroups
                    + "' for --manage-cgroups (none, props, soft, full, strict or ignore)");
        }
        if (cpuCap != null) {
            for (String c : cpuCap.split(",")) {
                String name = c.startsWith("^") ? c.substring(1) : c;
                if (!CPU_CAPS.contains(name)) {
                    throw new UsageError("invalid argument for --cpu-cap: " + cpuCap + " (cpu, fpu, all, ins, none, ^CAP)");
                }
            }
        }
        if (networkLock != null && !Set.of("nftables", "iptables", "skip").contains(networkLock)) {
            throw new UsageError("invalid argument for --network-lock: " + networkLock + " (nftables, iptables or skip)");
        }
        if (fileValidation != null && !Set.of("filesize", "buildid").contains(fileValidation)) {
            throw new UsageError("invalid argument for --file-validation: " + fileValidation + " (filesize or buildid)");
        }
        if (emptyNs != null && !emptyNs.equals("net")) {
            throw new UsageError("unsupported empty namespace: " + emptyNs + " (--empty-ns takes net only)");
        }
        for (String fd : inheritFds) {
            if (FileOptions.InheritFd.parse(fd) == null) {
                throw new UsageError("invalid argument for --inherit-fd: " + fd + " (fd[N]:RESOURCE)");
            }
        }
        if (ghostLimit != null) {
            ghostLimitBytes();
        }
        if (ms) {
            throw new UsageError("--ms is deprecated; see 'cryo check'");
        }
    }

    /** --ghost-limit in bytes: a number with an optional K, M or G, as CRIU reads it. */
    long ghostLimitBytes() throws UsageError {
        if (ghostLimit == null) {
            return FileOptions.DEFAULT_GHOST_LIMIT;
        }
        String v = ghostLimit.strip();
        long unit = 1;
        if (!v.isEmpty() && "KMG".indexOf(Character.toUpperCase(v.charAt(v.length() - 1))) >= 0) {
            unit = switch (Character.toUpperCase(v.charAt(v.length() - 1))) {
                case 'K' -> 1L << 10;
                case 'M' -> 1L << 20;
                default -> 1L << 30;
            };
            v = v.substring(0, v.length() - 1);
        }
        try {
            long n = Long.parseLong(v);
            if (n >= 0) {
                return Math.multiplyExact(n, unit);
            }
        } catch (NumberFormatException | ArithmeticException e) {
            // reported below
        }
        throw new UsageError("invalid argument for --ghost-limit: " + ghostLimit + " (a size such as 1048576, 512K, 1M)");
    }

    FileOptions files() throws UsageError {
        List<FileOptions.InheritFd> inherit = new ArrayList<>();
        for (String fd : inheritFds) {
            FileOptions.InheritFd parsed = FileOptions.InheritFd.parse(fd);
            if (parsed == null) {
                throw new UsageError("invalid argument for --inherit-fd: " + fd + " (fd[N]:RESOURCE)");
            }
            inherit.add(parsed);
        }
        List<String> all = new ArrayList<>(external);
        for (String m : extMountMaps) { // CRIU's older spelling of --external mnt[KEY]:VAL
            int colon = m.indexOf(':');
            if (colon <= 0) {
                throw new UsageError("invalid argument for --ext-mount-map: " + m + " (KEY:VAL)");
            }
            all.add("mnt[" + m.substring(0, colon) + "]:" + m.substring(colon + 1));
        }
        return new FileOptions(fileLocks, linkRemap, ghostLimitBytes(), ghostFiemap, inherit, all,
                evasiveDevices, fileValidation == null ? "buildid" : fileValidation, skipFileRwxCheck, forceIrmap,
                irmapScanPaths);
    }

    /** Options that ask for what Cryo does not have: the one-line reason, or null when none was given. */
    String refusal(boolean restore) {
        if (lazyPages) {
            return "--lazy-pages: cryo has no lazy-pages daemon; memory is restored before the tree runs (drop the option)";
        }
        if (pageServer) {
            return "--page-server: cryo has no page server; images go to -D (copy them over, then restore there)";
        }
        if (stream) {
            return "--stream: cryo does not speak to criu-image-streamer; images are files in -D";
        }
        if (!restore) {
            return null;
        }
        if (restoreSibling) {
            return "--restore-sibling: the restored root is always cryo's own child; use -d, and cryo's exit "
                    + "leaves it to the nearest subreaper";
        }
        if (lsmProfile != null) {
            return "--lsm-profile " + lsmProfile + ": cryo does not set AppArmor or SELinux profiles";
        }
        return null;
    }
}
