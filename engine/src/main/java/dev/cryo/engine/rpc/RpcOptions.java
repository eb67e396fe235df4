package dev.cryo.engine.rpc;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.image.rpc.criu_cg_mode;
import dev.cryo.image.rpc.criu_opts;
import dev.cryo.image.rpc.criu_pre_dump_mode;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A request's {@code criu_opts} read the way CRIU reads them: fds are the caller's (opened through
 * {@code /proc/PEER/fd/N}), paths are relative to the work directory, and an option Cryo cannot honour is refused
 * with a message that names it, before anything is touched. Options that change nothing Cryo does are accepted;
 * {@code engine/docs/rpc.md} says, for each, why that is right.
 */
final class RpcOptions {
    /** CRIU's default bound on freezing the tree and on a restore's waits, in seconds. */
    static final int DEFAULT_TIMEOUT = 10;

    private final criu_opts opts;
    private final int peer;
    final Path imagesDir;
    final Path workDir;

    private RpcOptions(criu_opts opts, int peer, Path imagesDir, Path workDir) {
        this.opts = opts;
        this.peer = peer;
        this.imagesDir = imagesDir;
        this.workDir = workDir;
    }

    /** Opens the directories the request names; nothing else is checked yet. */
    static RpcOptions of(criu_opts opts, int peer) throws RpcException {
        Path images;
        if (opts.hasImagesDir() && !opts.getImagesDir().isEmpty() && opts.getImagesDirFd() < 0) {
            images = existingDirectory(Path.of(opts.getImagesDir()), "images_dir");
        } else {
            images = callersDirectory(peer, opts.getImagesDirFd(), "images_dir_fd");
        }
        Path work = opts.hasWorkDirFd() && opts.getWorkDirFd() >= 0
                ? callersDirectory(peer, opts.getWorkDirFd(), "work_dir_fd") : images;
        return new RpcOptions(opts, peer, images, work);
    }

    /**
     * The directory behind the caller's fd {@code fd}: its path when this process sees the same directory there,
     * else the {@code /proc} link itself (valid while the caller holds the fd, which it does for the request).
     */
    static Path callersDirectory(int peer, int fd, String field) throws RpcException {
        Path link = Path.of("/proc", Integer.toString(peer), "fd", Integer.toString(fd));
        if (!Files.isDirectory(link)) {
            throw new RpcException(9 /* EBADF */, "cannot use " + field + " " + fd + ": it is not an open directory of "
                    + "the caller (pid " + peer + "); open the directory and pass its fd");
        }
        try {
            Path real = Files.readSymbolicLink(link);
            if (real.isAbsolute() && Files.isDirectory(real) && Files.isSameFile(real, link)) {
                return real;
            }
        } catch (IOException | UnsupportedOperationException e) {
            // the link is all there is
        }
        return link;
    }

    private static Path existingDirectory(Path p, String field) throws RpcException {
        if (!Files.isDirectory(p)) {
            throw new RpcException(2 /* ENOENT */, "cannot use " + field + " " + p + ": no such directory");
        }
        return p.toAbsolutePath().normalize();
    }

    /** The request's log: log_file in the work directory at log_level; stderr without a file. */
    Log openLog() throws RpcException {
        int level = Math.max(0, Math.min(4, opts.getLogLevel()));
        if (!opts.hasLogFile() || opts.getLogFile().isEmpty() || opts.getLogToStderr()) {
            return Log.toStderr(level);
        }
        String name = opts.getLogFile();
        if (name.contains("/")) {
            throw new RpcException(22, "cannot use log_file " + name + ": it must be a name in the work directory, "
                    + "without subdirectories (set work_dir_fd to choose the directory)");
        }
        try {
            return Log.toFile(workDir.resolve(name), level);
        } catch (java.io.UncheckedIOException e) {
            throw new RpcException(13, "cannot open log file " + workDir.resolve(name) + ": " + e.getCause().getMessage());
        }
    }

    /** What a DUMP or PRE_DUMP asks for; the tree is the caller itself when no pid is given, as in CRIU. */
    DumpOptions dump(boolean preDump) throws RpcException {
        List<String> refused = commonRefusals();
        if (opts.getLazyPages()) {
            refused.add("lazy_pages (Cryo has no lazy restore)");
        }
        if (opts.hasPs()) {
            refused.add("ps (Cryo has no page server: images go to images_dir_fd)");
        }
        if (opts.getLeaveStopped()) {
            refused.add("leave_stopped");
        }
        refuse(refused);
        int pid = opts.hasPid() && opts.getPid() > 0 ? opts.getPid() : peer;
        Path prev = null;
        if (opts.hasParentImg() && !opts.getParentImg().isEmpty()) {
            prev = imagesDir.resolve(opts.getParentImg()).normalize();
            if (!Files.isDirectory(prev)) {
                throw new RpcException(2, "cannot use parent_img " + opts.getParentImg() + ": " + prev
                        + " is not a directory (it is relative to the images directory)");
            }
        }
        String mode = opts.getPreDumpMode() == criu_pre_dump_mode.VM_READ ? "read" : "splice";
        // the file options runc and others set: locks, link remaps, the ghost limit (CRIU's default when unset)
        var d = dev.cryo.engine.resource.FileOptions.DEFAULTS;
        // external resources as CRIU's --external takes them; runc 1.1.5 names mounts in ext_mnt (mountpoint -> key)
        List<String> external = new java.util.ArrayList<>(opts.getExternalList());
        opts.getExtMntList().forEach(m -> external.add("mnt[" + m.getKey() + "]:" + m.getVal()));
        var files = new dev.cryo.engine.resource.FileOptions(opts.getFileLocks(), opts.getLinkRemap(),
                Integer.toUnsignedLong(opts.getGhostLimit()), d.ghostFiemap(), d.inheritFds(), external,
                d.evasiveDevices(), d.fileValidation(), d.skipFileRwxCheck(), d.forceIrmap(), d.irmapScanPaths())
                .withExternal(opts.getUnixSkInoList().stream().map(u -> "unix[" + Integer.toUnsignedString(u.getInode())
                        + "]").toList()); // external sockets: --external unix[INO], and CRIU's older unix_sk_ino
        return new DumpOptions(pid, imagesDir, preDump, opts.getLeaveRunning(), opts.getShellJob(),
                opts.getTcpEstablished(), opts.getExtUnixSk() || opts.getUnixSkInoCount() > 0, opts.getTrackMem(),
                prev, mode, timeout(), files, false, false, false, networkLock(), List.of())
                .withFreezeCgroup(opts.hasFreezeCgroup() ? opts.getFreezeCgroup() : null); // runc: always
    }

    /** What a RESTORE asks for: always detached, as CRIU restores over RPC; the caller gets the pid. */
    RestoreOptions restore() throws RpcException {
        List<String> refused = commonRefusals();
        if (opts.getExecCmdCount() > 0) {
            refused.add("exec_cmd");
        }
        // join_ns: runc sends one for each namespace the container shares by path (a pod's ipc and uts)
        List<dev.cryo.engine.restore.JoinNs> joins = new ArrayList<>();
        for (var j : opts.getJoinNsList()) {
            try {
                joins.add(dev.cryo.engine.restore.JoinNs.parse(j.getNs() + ":" + j.getNsFile()));
            } catch (dev.cryo.engine.CryoException e) {
                refused.add("join_ns " + j.getNs() + " (" + e.getMessage() + ")");
            }
        }
        if (opts.getLazyPages()) {
            refused.add("lazy_pages (Cryo has no lazy restore)");
        }
        refuse(refused);
        // inherit_fd: the fds are this process's own (runc passes them to swrk), as CRIU takes them
        List<dev.cryo.engine.resource.FileOptions.InheritFd> inherit = new ArrayList<>();
        for (var i : opts.getInheritFdList()) {
            inherit.add(new dev.cryo.engine.resource.FileOptions.InheritFd(i.getFd(), i.getKey()));
        }
        var d = dev.cryo.engine.resource.FileOptions.DEFAULTS;
        // a container's external mounts: ext_mnt {key KEY (the image's ext_key), val HOST PATH}, as --external
        // mnt[KEY]:PATH names them on the command line
        List<String> external = new ArrayList<>(opts.getExternalList());
        opts.getExtMntList().forEach(m -> external.add("mnt[" + m.getKey() + "]:" + m.getVal()));
        var files = new dev.cryo.engine.resource.FileOptions(opts.getFileLocks(), opts.getLinkRemap(), d.ghostLimit(),
                d.ghostFiemap(), inherit, external, d.evasiveDevices(), d.fileValidation(), d.skipFileRwxCheck(),
                d.forceIrmap(), d.irmapScanPaths());
        // root: where the container's root mount comes from (runc bind-mounts its bundle's rootfs at criu-root)
        Path root = opts.hasRoot() && !opts.getRoot().isEmpty() && !isHostRoot(opts.getRoot())
                ? Path.of(opts.getRoot()) : null;
        List<String> cgRoots = new ArrayList<>();
        opts.getCgRootList().forEach(r -> cgRoots.add(r.hasCtrl() && !r.getCtrl().isEmpty()
                ? r.getCtrl() + ":" + r.getPath() : r.getPath()));
        String cgMode = !opts.hasManageCgroupsMode() ? "soft" : switch (opts.getManageCgroupsMode()) {
            case IGNORE -> "ignore";
            case CG_NONE -> "none";
            case PROPS -> "props";
            case FULL -> "full";
            case STRICT -> "strict";
            default -> "soft";
        };
        return new RestoreOptions(imagesDir, true, opts.getShellJob(), opts.getTcpClose(), null, timeout(), files,
                false, networkLock(), List.of(), root, opts.getEmptyNs(),
                new dev.cryo.engine.resource.Cgroups.Options(cgMode, cgRoots), joins);
    }

    /**
     * network_lock as --network-lock takes it. Unset, Cryo's own lock (nftables): the field's default (IPTABLES)
     * names CRIU's default, not a caller's choice.
     */
    private String networkLock() {
        if (!opts.hasNetworkLock()) {
            return "nftables";
        }
        return switch (opts.getNetworkLock()) {
            case IPTABLES -> "iptables";
            case SKIP -> "skip";
            default -> "nftables";
        };
    }

    /** Refusals shared by dump and restore: what would change the result and Cryo cannot do. */
    private List<String> commonRefusals() {
        List<String> refused = new ArrayList<>();
        if (opts.getManageCgroupsMode() == criu_cg_mode.FULL || opts.getManageCgroupsMode() == criu_cg_mode.STRICT) {
            refused.add("manage_cgroups_mode " + opts.getManageCgroupsMode() + " (Cryo does not dump or create "
                    + "cgroups; soft, ignore and props leave them to the caller, which is what runc sets up)");
        }
        if (opts.getVethsCount() > 0) {
            refused.add("veths (Cryo does not dump network namespaces)");
        }
        if (opts.getTls()) {
            refused.add("tls (Cryo has no page server)");
        }
        String config = opts.getConfigFile();
        if (!config.isEmpty() && hasSettings(Path.of(config))) {
            refused.add("config_file " + config + " (Cryo reads no CRIU configuration file; pass the options in "
                    + "criu_opts)");
        }
        return refused;
    }

    private static void refuse(List<String> refused) throws RpcException {
        if (!refused.isEmpty()) {
            throw new RpcException(95 /* EOPNOTSUPP */, "Cryo cannot honour " + String.join(", ", refused));
        }
    }

    /** A configuration file that exists and holds an option (not only comments and blank lines). */
    static boolean hasSettings(Path file) {
        try {
            return Files.readAllLines(file).stream().map(String::strip)
                    .anyMatch(l -> !l.isEmpty() && !l.startsWith("#"));
        } catch (IOException e) {
            return false; // runc names /etc/criu/runc.conf whether or not it exists
        }
    }

    private static boolean isHostRoot(String root) {
        try {
            return Files.isSameFile(Path.of(root), Path.of("/"));
        } catch (IOException e) {
            return false;
        }
    }

    private Duration timeout() {
        return Duration.ofSeconds(opts.getTimeout() > 0 ? opts.getTimeout() : DEFAULT_TIMEOUT);
    }

    boolean notifyScripts() {
        return opts.getNotifyScripts();
    }

    /**
     * CRIU's status_fd: one zero byte once the restored tree runs, then closed, so a caller can wait for it
     * without the RPC socket.
     */
    void reportStatus(Log log) {
        if (!opts.hasStatusFd() || opts.getStatusFd() < 0) {
            return;
        }
        Path fd = Path.of("/proc", Integer.toString(peer), "fd", Integer.toString(opts.getStatusFd()));
        try (OutputStream out = Files.newOutputStream(fd, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            out.write(0);
        } catch (IOException e) {
            log.warn("cannot write to status_fd %d of pid %d: %s", opts.getStatusFd(), peer, e.getMessage());
        }
    }
}
