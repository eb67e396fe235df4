package dev.cryo.engine.restore;

import dev.cryo.engine.resource.FileOptions;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What {@code cryo restore} was asked to do, after parsing.
 *
 * @param imagesDir  -D/--images-dir
 * @param detached   -d/--restore-detached: return once the tree runs; otherwise wait and exit with its status
 * @param shellJob   -j/--shell-job
 * @param tcpClose   --tcp-close
 * @param pidfile    --pidfile, resolved against imagesDir as CRIU does; null when absent
 * @param timeout    --timeout
 * @param files         the options about files (-l, --link-remap, --inherit-fd, --external, ...)
 * @param leaveStopped  -s/--leave-stopped: the restored tree is left stopped (SIGSTOP) instead of resumed
 * @param networkLock   --network-lock: "nftables", "iptables" or "skip" (no lock was taken, none to remove)
 * @param actionScripts --action-script, run at pre-restore, post-restore, pre-resume and post-resume
 * @param root          -r/--root: where a container's root mount comes from (runc's criu-root); null: none given
 * @param emptyNs       --empty-ns / criu_opts empty_ns: CLONE_NEW* bits of namespaces made empty, not restored
 * @param cgroups       --manage-cgroups and --cgroup-root (criu_opts manage_cgroups_mode, cg_root)
 * @param joinNs        --join-ns / criu_opts join_ns: namespaces the tree joins instead of its images' own
 */
public record RestoreOptions(
        Path imagesDir,
        boolean detached,
        boolean shellJob,
        boolean tcpClose,
        Path pidfile,
        Duration timeout,
        FileOptions files,
        boolean leaveStopped,
        String networkLock,
        List<String> actionScripts,
        Path root,
        int emptyNs,
        dev.cryo.engine.resource.Cgroups.Options cgroups,
        List<JoinNs> joinNs) {

    public RestoreOptions {
        cgroups = cgroups == null ? dev.cryo.engine.resource.Cgroups.Options.DEFAULT : cgroups;
        joinNs = joinNs == null ? List.of() : List.copyOf(joinNs);
        files = files == null ? FileOptions.DEFAULTS : files;
        networkLock = networkLock == null ? "nftables" : networkLock;
        actionScripts = actionScripts == null ? List.of() : List.copyOf(actionScripts);
    }

    /** With CRIU's default cgroup mode (soft) and no new cgroup roots. */
    public RestoreOptions(Path imagesDir, boolean detached, boolean shellJob, boolean tcpClose, Path pidfile,
                          Duration timeout, FileOptions files, boolean leaveStopped, String networkLock,
                          List<String> actionScripts, Path root, int emptyNs) {
        this(imagesDir, detached, shellJob, tcpClose, pidfile, timeout, files, leaveStopped, networkLock, actionScripts,
                root, emptyNs, null, null);
    }

    /** The same options with namespaces to join. */
    public RestoreOptions withJoinNs(List<JoinNs> joinNs) {
        return new RestoreOptions(imagesDir, detached, shellJob, tcpClose, pidfile, timeout, files, leaveStopped,
                networkLock, actionScripts, root, emptyNs, cgroups, joinNs);
    }

    /** The namespace of kind {@code ns} to join, or null. */
    public JoinNs joined(String ns) {
        return joinNs.stream().filter(j -> j.ns().equals(ns)).reduce((a, b) -> b).orElse(null);
    }

    /** The same options with a cgroup mode and new cgroup roots. */
    public RestoreOptions withCgroups(dev.cryo.engine.resource.Cgroups.Options cgroups) {
        return new RestoreOptions(imagesDir, detached, shellJob, tcpClose, pidfile, timeout, files, leaveStopped,
                networkLock, actionScripts, root, emptyNs, cgroups, joinNs);
    }

    /** Without a container's root or empty namespaces. */
    public RestoreOptions(Path imagesDir, boolean detached, boolean shellJob, boolean tcpClose, Path pidfile,
                          Duration timeout, FileOptions files, boolean leaveStopped, String networkLock,
                          List<String> actionScripts) {
        this(imagesDir, detached, shellJob, tcpClose, pidfile, timeout, files, leaveStopped, networkLock, actionScripts,
                null, 0);
    }

    /** The same options with a container's root and the namespaces to make empty. */
    public RestoreOptions withContainer(Path root, int emptyNs) {
        return new RestoreOptions(imagesDir, detached, shellJob, tcpClose, pidfile, timeout, files, leaveStopped,
                networkLock, actionScripts, root, emptyNs, cgroups, joinNs);
    }

    /** The options of the first commands, every later option at its default. */
    public RestoreOptions(Path imagesDir, boolean detached, boolean shellJob, boolean tcpClose, Path pidfile,
                          Duration timeout) {
        this(imagesDir, detached, shellJob, tcpClose, pidfile, timeout, FileOptions.DEFAULTS, false, "nftables",
                List.of());
    }
}
