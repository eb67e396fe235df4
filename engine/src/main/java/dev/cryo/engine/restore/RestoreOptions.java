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
        List<String> actionScripts) {

    public RestoreOptions {
        files = files == null ? FileOptions.DEFAULTS : files;
        networkLock = networkLock == null ? "nftables" : networkLock;
        actionScripts = actionScripts == null ? List.of() : List.copyOf(actionScripts);
    }

    /** The options of the first commands, every later option at its default. */
    public RestoreOptions(Path imagesDir, boolean detached, boolean shellJob, boolean tcpClose, Path pidfile,
                          Duration timeout) {
        this(imagesDir, detached, shellJob, tcpClose, pidfile, timeout, FileOptions.DEFAULTS, false, "nftables",
                List.of());
    }
}
