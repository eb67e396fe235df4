package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.resource.MountNamespace;
import dev.cryo.engine.resource.TmpfsContents;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.inventory_entry;
import dev.cryo.image.proto.mnt_entry;
import dev.cryo.image.proto.task_kobj_ids_entry;
import dev.cryo.image.proto.utsns_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The images of a container (engine/docs/containers.md): a tree whose root was pid 1 of a pid namespace of its own,
 * with its own mount, uts, ipc and net namespaces (or the pid namespace alone, as {@code unshare --pid --fork} makes). The restore makes the root task with those namespaces new
 * (clone3 with CLONE_NEW* and set_tid {1}, from the traced helper), then, by remote syscalls in it, rebuilds the
 * mounts under the caller's root ({@code --root}, runc's criu-root) and pivots into it, and sets the host and domain
 * names; every other task of the tree is then made inside, by the pids the images have. Everything is read and
 * checked (external mount keys, archives, the root) before any task is made.
 */
final class ContainerRestore {
    static final long CLONE_NEWCGROUP = 0x02000000L, CLONE_NEWNS = 0x00020000L, CLONE_NEWUTS = 0x04000000L, CLONE_NEWIPC = 0x08000000L,
            CLONE_NEWPID = 0x20000000L, CLONE_NEWNET = 0x40000000L;
    private static final int SETHOSTNAME = 170, SETDOMAINNAME = 171;

    private final int pid;
    private final long flags;
    private final MountNamespace.Restore mounts;
    private final utsns_entry uts;
    /** The net namespace to join, when the images name theirs as external: the caller's --inherit-fd; else null. */
    private final dev.cryo.engine.resource.FileOptions.InheritFd net;
    /** The images' id of the container's own ipc namespace, whose SysV objects are made again; 0 when it has none. */
    private int ipcNsId;
    private dev.cryo.engine.resource.IpcNamespace.Restore ipc;
    /** lo of a network namespace the images hold (netdev-ID.img), made again in the new one; else null. */
    private dev.cryo.image.proto.net_device_entry loopback;
    /** Namespaces the root joins (--join-ns), net first: entered right after it is made. */
    private List<JoinNs> joins = List.of();

    private ContainerRestore(int pid, long flags, MountNamespace.Restore mounts, utsns_entry uts,
                             dev.cryo.engine.resource.FileOptions.InheritFd net) {
        this.pid = pid;
        this.flags = flags;
        this.mounts = mounts;
        this.uts = uts;
        this.net = net;
    }

    /**
     * The container the images hold, or null when the root shares the dumper's pid and mount namespaces (a plain
     * tree). Refuses what Cryo cannot make, with nothing made yet.
     */
    static ContainerRestore of(ImageDir dir, inventory_entry inv, task_kobj_ids_entry ids, int pid,
                               RestoreOptions options) throws CryoException {
        var dumper = inv.getRootIds();
        String who = "cannot restore pid " + pid + " from " + dir.path() + ": ";
        boolean ownPid = ids.getPidNsId() != dumper.getPidNsId(), ownMnt = ids.getMntNsId() != dumper.getMntNsId();
        if (!ownPid && !ownMnt) {
            if (options.root() != null) {
                throw new CryoException(who + "--root " + options.root() + " is for a container's images (a mount "
                        + "namespace of its own); these share the dumper's, and come back at their own paths");
            }
            return ownWithoutPid(dir, inv, ids, pid, options, who);
        }
        if (!ownPid) {
            throw new CryoException(who + "it was dumped in a mount namespace of its own but in the dumper's pid "
                    + "namespace; Cryo restores a mount namespace only with the pid namespace of a container");
        }
        if (!ownMnt && options.root() != null) {
            throw new CryoException(who + "--root " + options.root() + " is for a mount namespace of the images' own; "
                    + "these share the dumper's (a pid namespace of their own only: unshare --pid)");
        }
        if (pid != 1) {
            throw new CryoException(who + "the root of a container's images must be its pid 1, not " + pid);
        }
        for (String[] ns : List.of(new String[]{"user", ids.getUserNsId() + "", dumper.getUserNsId() + ""},
                new String[]{"time", ids.getTimeNsId() + "", dumper.getTimeNsId() + ""})) {
            if (!ns[1].equals(ns[2]) && !ns[1].equals("0")) {
                throw new CryoException(who + "it has a " + ns[0] + " namespace of its own, which Cryo cannot "
                        + "restore");
            }
        }
        long flags = CLONE_NEWPID | (ownMnt ? CLONE_NEWNS : 0);
        if (ids.getCgroupNsId() != 0 && ids.getCgroupNsId() != dumper.getCgroupNsId()) {
            // a cgroup namespace of its own, rooted where the root task is made: in the cgroups of Cryo's helper,
            // which are the container's when runc restores (it moves criu there first); Cryo moves no task itself
            flags |= CLONE_NEWCGROUP;
        }
        NetChoice netChoice = net(dir, inv, ids, options, who);
        flags |= netChoice.flags;
        var net = netChoice.inherited;
        utsns_entry uts = null;
        String current = "mountpoints-" + ids.getMntNsId() + ".img";
        List<mnt_entry> entries = null;
        try {
            if (ownMnt) {
                entries = dir.read(MountNamespace.imageName(ids.getMntNsId())).entries(mnt_entry.class);
            }
            if (ids.getUtsNsId() != dumper.getUtsNsId() && options.joined("uts") == null) {
                flags |= CLONE_NEWUTS;
                current = "utsns-" + ids.getUtsNsId() + ".img";
                var f = dir.readIfExists(current);
                if (f.isPresent()) {
                    uts = f.get().entries(utsns_entry.class).get(0);
                }
            }
        } catch (IOException | RuntimeException e) {
            String why = e instanceof java.nio.file.NoSuchFileException ? "it is missing" : e.getMessage();
            throw new CryoException(who + "cannot read " + current + ": " + why, e);
        }
        int ipcNsId = 0;
        if (ids.getIpcNsId() != dumper.getIpcNsId() && options.joined("ipc") == null) {
            flags |= CLONE_NEWIPC; // its limits and SysV objects are made again in it (setUp)
            ipcNsId = ids.getIpcNsId();
            dev.cryo.engine.resource.IpcNamespace.check(dir, ipcNsId, pid);
        }
        Path root = options.root();
        if (root != null && !Files.isDirectory(root)) {
            throw new CryoException(who + "--root " + root + " is not a directory");
        }
        MountNamespace.Restore plan = entries == null ? null : MountNamespace.Restore.plan(pid, entries, root,
                externalMounts(options), dev -> dir.exists(TmpfsContents.imageName(dev)));
        ContainerRestore c = new ContainerRestore(pid, flags, plan, uts, net);
        c.ipcNsId = ipcNsId;
        c.loopback = netChoice.loopback;
        c.joins = options.joinNs();
        return c;
    }

    /**
     * Images of a root in the dumper's pid and mount namespaces with a network, ipc or uts namespace of its own
     * ({@code unshare -n -i -u}): the root is cloned with those new, by its own pid; null when it has none.
     */
    private static ContainerRestore ownWithoutPid(ImageDir dir, inventory_entry inv, task_kobj_ids_entry ids, int pid,
                                                  RestoreOptions options, String who) throws CryoException {
        var dumper = inv.getRootIds();
        NetChoice net = net(dir, inv, ids, options, who);
        long flags = net.flags;
        utsns_entry uts = null;
        if (ids.getUtsNsId() != 0 && ids.getUtsNsId() != dumper.getUtsNsId() && options.joined("uts") == null) {
            flags |= CLONE_NEWUTS;
            String name = "utsns-" + ids.getUtsNsId() + ".img";
            try {
                var f = dir.readIfExists(name);
                if (f.isPresent()) {
                    uts = f.get().entries(utsns_entry.class).get(0);
                }
            } catch (IOException | RuntimeException e) {
                throw new CryoException(who + "cannot read " + name + ": " + e.getMessage(), e);
            }
        }
        int ipcNsId = 0;
        if (ids.getIpcNsId() != 0 && ids.getIpcNsId() != dumper.getIpcNsId() && options.joined("ipc") == null) {
            flags |= CLONE_NEWIPC;
            ipcNsId = ids.getIpcNsId();
            dev.cryo.engine.resource.IpcNamespace.check(dir, ipcNsId, pid);
        }
        if (flags == 0 && net.inherited == null && options.joinNs().isEmpty()) {
            return null;
        }
        ContainerRestore c = new ContainerRestore(pid, flags, null, uts, net.inherited);
        c.ipcNsId = ipcNsId;
        c.loopback = net.loopback;
        c.joins = options.joinNs();
        return c;
    }

    /** How the root gets its network namespace: CLONE_NEWNET, one to join, and lo to set up in a new one. */
    private record NetChoice(long flags, dev.cryo.engine.resource.FileOptions.InheritFd inherited,
                             dev.cryo.image.proto.net_device_entry loopback) {
    }

    /**
     * The root's network namespace when the images give it one of its own: the one the caller hands back for an
     * external one; a new empty one for --empty-ns net (runc); a new one with lo as it was when the images hold lo
     * (netdev-ID.img); otherwise refused.
     */
    private static NetChoice net(ImageDir dir, inventory_entry inv, task_kobj_ids_entry ids, RestoreOptions options,
                                 String who) throws CryoException {
        if (options.joined("net") != null) {
            return new NetChoice(0, null, null); // --join-ns net: the one given, whatever the images had (setUp)
        }
        if (ids.getNetNsId() == 0 || ids.getNetNsId() == inv.getRootIds().getNetNsId()) {
            return new NetChoice(0, null, null);
        }
        String key = externalNetKey(dir, ids.getNetNsId(), who);
        if (key != null) {
            // dumped as external (--external net[INO]:KEY): the caller gives it back, sockets and all
            return new NetChoice(0, options.files().inheritFds().stream().filter(i -> i.resource().equals(key))
                    .findFirst().orElseThrow(() -> new CryoException(who + "its network namespace was dumped as "
                            + "external (" + key + "); give it with --inherit-fd fd[N]:" + key
                            + " (an fd of that namespace)")), null);
        }
        if ((options.emptyNs() & CLONE_NEWNET) != 0) {
            return new NetChoice(CLONE_NEWNET, null, null);
        }
        String name = "netdev-" + ids.getNetNsId() + ".img";
        try {
            var f = dir.readIfExists(name);
            if (f.isPresent()) {
                var devices = f.get().entries(dev.cryo.image.proto.net_device_entry.class);
                // CRIU's images of the namespace beside the devices: nothing Cryo would leave out
                dev.cryo.engine.net.LoopbackNamespace.checkCriuImages(dir.path(), ids.getNetNsId(), who);
                for (var d : devices) {
                    if (d.getType() != dev.cryo.image.proto.nd_type.LOOPBACK) {
                        throw new CryoException(who + name + " holds the device " + d.getName() + " (" + d.getType()
                                + "), which Cryo cannot make yet; restore into a new, empty network namespace with "
                                + "--empty-ns net");
                    }
                }
                return new NetChoice(CLONE_NEWNET, null, devices.isEmpty() ? null : devices.get(0));
            }
        } catch (IOException | RuntimeException e) {
            throw new CryoException(who + "cannot read " + name + ": " + e.getMessage(), e);
        }
        throw new CryoException(who + "it has a network namespace of its own, which these images do not hold; "
                + "restore it into a new, empty one with --empty-ns net (runc asks for that), or dump it as external "
                + "(--external net[INO]:KEY) and give it back with --inherit-fd");
    }

    /** The root task enters namespace {@code j}: Cryo opens its file and hands the fd over for setns. */
    private void join(int hostPid, RemoteSyscall remote, RemoteScratch scratch, JoinNs j, Log log)
            throws CryoException {
        int mine = -1;
        try {
            mine = dev.cryo.engine.sys.DirectFiles.open(j.file().toString(), 0x80000 /* O_RDONLY | O_CLOEXEC */, 0);
            int fd = dev.cryo.engine.resource.FdPassing.give(hostPid, remote, scratch, 0, mine);
            try {
                remote.call("setns(" + j.ns() + ")", dev.cryo.engine.sys.Syscall.SETNS, fd, j.flag());
            } finally {
                remote.raw(dev.cryo.engine.sys.Syscall.CLOSE, fd);
            }
        } catch (SyscallException | java.io.IOException e) {
            throw new CryoException("cannot restore pid " + pid + ": cannot join the " + j.ns() + " namespace of "
                    + j.file() + " (--join-ns): " + CryoException.reason(e), e);
        } finally {
            if (mine >= 0) {
                dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.CLOSE, mine);
            }
        }
        log.info("pid %d joined the %s namespace of %s (--join-ns)", pid, j.ns(), j.file());
    }

    /** Whether the root is made in a pid namespace of its own (a container's init, pid 1 there). */
    boolean newPid() {
        return (flags & CLONE_NEWPID) != 0;
    }

    /** The image of the SysV segments the tasks attach, when the container has an ipc namespace of its own; else null. */
    String sysvSegmentsImage() {
        return ipcNsId == 0 ? null : dev.cryo.engine.resource.IpcNamespace.shmImage(ipcNsId);
    }

    /** Every task is built: the SysV segments get their owners back (IpcNamespace.Restore#finish). */
    void finishIpc() throws CryoException {
        if (ipc != null) {
            ipc.finish();
        }
    }

    /** The key netns-ID.img names the namespace by when it was dumped as external; null when it has none. */
    private static String externalNetKey(ImageDir dir, int id, String who) throws CryoException {
        String name = "netns-" + id + ".img";
        try {
            var f = dir.readIfExists(name);
            if (f.isEmpty()) {
                return null;
            }
            var entries = f.get().entries(dev.cryo.image.proto.netns_entry.class);
            return entries.isEmpty() || !entries.get(0).hasExtKey() ? null : entries.get(0).getExtKey();
        } catch (IOException | RuntimeException e) {
            throw new CryoException(who + "cannot read " + name + ": " + e.getMessage(), e);
        }
    }

    /** The --inherit-fd key this restore used for the net namespace (not a file of the images), or null. */
    String inheritedNetKey() {
        return net == null ? null : net.resource();
    }

    /** --external mnt[KEY]:PATH (runc's ext_mnt {key, val}): key -> host path. */
    private static Map<String, String> externalMounts(RestoreOptions options) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String e : options.files().external()) {
            int close = e.indexOf("]:");
            if (e.startsWith("mnt[") && close > 4) {
                out.put(e.substring(4, close), e.substring(close + 2));
            }
        }
        return out;
    }

    /** The namespaces the root task is cloned with. */
    long cloneFlags() {
        return flags;
    }

    /** Where a file the images name (a path inside the container) is on the host before the mounts exist, or null. */
    Path hostPath(String name) {
        return mounts == null ? Path.of(name) : mounts.hostPath(name);
    }

    /**
     * In the root task, just cloned into its new namespaces: the mounts, pivot_root, the host and domain names. Runs
     * by remote syscalls in it; nothing of Cryo's own enters the namespaces.
     */
    void setUp(int hostPid, RemoteSyscall remote, RemoteScratch scratch, ImageDir dir, Log log) throws CryoException {
        for (JoinNs j : joins.stream().sorted(java.util.Comparator.comparing(j -> !j.ns().equals("net"))).toList()) {
            // before the mounts, as for an inherited one: a sysfs mounted inside shows the task's net namespace
            join(hostPid, remote, scratch, j, log);
        }
        if (net != null) {
            // before the mounts: a sysfs mounted inside shows the net namespace of the task that mounts it
            try {
                int fd = dev.cryo.engine.resource.FdPassing.give(hostPid, remote, scratch, 0, net.fd());
                remote.call("setns(net)", dev.cryo.engine.sys.Syscall.SETNS, fd, CLONE_NEWNET);
                remote.call("close", dev.cryo.engine.sys.Syscall.CLOSE, fd);
            } catch (SyscallException e) {
                throw new CryoException("cannot restore pid " + pid + ": cannot join the network namespace given as "
                        + net.resource() + " (--inherit-fd fd[" + net.fd() + "]): " + e.getMessage(), e);
            }
            log.info("pid %d joined the network namespace of --inherit-fd fd[%d]:%s", pid, net.fd(), net.resource());
        }
        if (loopback != null) {
            // before any socket of the tree is made in it: one bound to 127.0.0.1 needs lo up
            dev.cryo.engine.net.LoopbackNamespace.restore(hostPid, pid, loopback);
            log.info("pid %d: lo %s in its new network namespace", pid, (loopback.getFlags() & 1) != 0 ? "up" : "down");
        }
        if (mounts != null) {
            mounts.make(hostPid, remote, scratch, dir, log);
        }
        if (uts != null) {
            try {
                byte[] host = uts.getNodename().getBytes(java.nio.charset.StandardCharsets.UTF_8);
                byte[] domain = uts.getDomainname().getBytes(java.nio.charset.StandardCharsets.UTF_8);
                remote.call("sethostname(" + uts.getNodename() + ")", SETHOSTNAME, scratch.string(0, uts.getNodename()),
                        host.length);
                remote.call("setdomainname(" + uts.getDomainname() + ")", SETDOMAINNAME,
                        scratch.string(0, uts.getDomainname()), domain.length);
            } catch (SyscallException e) {
                throw new CryoException("cannot restore pid " + pid + ": cannot set its host name: " + e.getMessage(), e);
            }
        }
        if (ipcNsId != 0) {
            // before any task maps memory: a task's SysV mappings attach these by their ids
            ipc = dev.cryo.engine.resource.IpcNamespace.Restore.make(hostPid, pid, ipcNsId, dir, log);
        }
        log.info("%s namespaces of pid %d (host pid %d) made: flags 0x%x%s", newPid() ? "container" : "own", pid,
                hostPid, flags,
                mounts != null ? ", mounts rebuilt and root pivoted" : "");
    }
}
