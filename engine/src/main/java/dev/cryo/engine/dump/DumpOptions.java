package dev.cryo.engine.dump;

import dev.cryo.engine.resource.FileOptions;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What {@code cryo dump} and {@code cryo pre-dump} were asked to do, after parsing.
 *
 * @param pid            root of the tree to dump (-t/--tree)
 * @param imagesDir      where images go (-D/--images-dir); also CRIU's work dir for relative -o
 * @param preDump        true for {@code pre-dump}: memory only, the process keeps running
 * @param leaveRunning   -R/--leave-running
 * @param shellJob       -j/--shell-job
 * @param tcpEstablished --tcp-established
 * @param extUnixSk      --ext-unix-sk
 * @param trackMem       --track-mem
 * @param prevImagesDir  --prev-images-dir, resolved against imagesDir as CRIU does; null when absent
 * @param preDumpMode    --pre-dump-mode: "splice" (default) or "read"
 * @param timeout        --timeout: bound on freezing the tree
 * @param files          the options about files (-l, --link-remap, --ghost-limit, --external, ...)
 * @param leaveStopped   -s/--leave-stopped: the tree stays, stopped (SIGSTOP), instead of being killed
 * @param tcpClose       --tcp-close: established connections are taken as --tcp-established takes them, for a
 *                       restore that brings them back closed
 * @param skipInFlight   --skip-in-flight: connections a listener has not accepted yet are left out (their peers
 *                       see a reset once the tree is gone)
 * @param networkLock    --network-lock: "nftables" (default here: a table of Cryo's, over netlink), "iptables"
 *                       (CRIU's DROP rules, added with iptables, which CRIU's restore lifts too), or "skip": no
 *                       lock, the caller holds the traffic itself
 * @param actionScripts  --action-script, run at pre-dump and post-dump
 * @param freezeCgroup   --freeze-cgroup (RPC freeze_cgroup): the freezer cgroup the tree is frozen through before
 *                       it is seized, as CRIU does; null: frozen by ptrace alone
 */
public record DumpOptions(
        int pid,
        Path imagesDir,
        boolean preDump,
        boolean leaveRunning,
        boolean shellJob,
        boolean tcpEstablished,
        boolean extUnixSk,
        boolean trackMem,
        Path prevImagesDir,
        String preDumpMode,
        Duration timeout,
        FileOptions files,
        boolean leaveStopped,
        boolean tcpClose,
        boolean skipInFlight,
        String networkLock,
        List<String> actionScripts,
        String freezeCgroup) {

    public DumpOptions {
        files = files == null ? FileOptions.DEFAULTS : files;
        networkLock = networkLock == null ? "nftables" : networkLock;
        actionScripts = actionScripts == null ? List.of() : List.copyOf(actionScripts);
        freezeCgroup = freezeCgroup == null || freezeCgroup.isEmpty() ? null : freezeCgroup;
    }

    /** Every option but --freeze-cgroup (the tree frozen by ptrace alone). */
    public DumpOptions(int pid, Path imagesDir, boolean preDump, boolean leaveRunning, boolean shellJob,
                       boolean tcpEstablished, boolean extUnixSk, boolean trackMem, Path prevImagesDir,
                       String preDumpMode, Duration timeout, FileOptions files, boolean leaveStopped, boolean tcpClose,
                       boolean skipInFlight, String networkLock, List<String> actionScripts) {
        this(pid, imagesDir, preDump, leaveRunning, shellJob, tcpEstablished, extUnixSk, trackMem, prevImagesDir,
                preDumpMode, timeout, files, leaveStopped, tcpClose, skipInFlight, networkLock, actionScripts, null);
    }

    /** The same options, frozen through the freezer cgroup {@code path} (null: by ptrace alone). */
    public DumpOptions withFreezeCgroup(String path) {
        return new DumpOptions(pid, imagesDir, preDump, leaveRunning, shellJob, tcpEstablished, extUnixSk, trackMem,
                prevImagesDir, preDumpMode, timeout, files, leaveStopped, tcpClose, skipInFlight, networkLock,
                actionScripts, path);
    }

    /** The options of the first commands, every later option at its default. */
    public DumpOptions(int pid, Path imagesDir, boolean preDump, boolean leaveRunning, boolean shellJob,
                       boolean tcpEstablished, boolean extUnixSk, boolean trackMem, Path prevImagesDir,
                       String preDumpMode, Duration timeout) {
        this(pid, imagesDir, preDump, leaveRunning, shellJob, tcpEstablished, extUnixSk, trackMem, prevImagesDir,
                preDumpMode, timeout, FileOptions.DEFAULTS, false, false, false, "nftables", List.of());
    }
}
