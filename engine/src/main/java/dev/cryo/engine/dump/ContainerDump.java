package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.resource.MountNamespace;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.ipc_var_entry;
import dev.cryo.image.proto.pstree_entry;
import dev.cryo.image.proto.task_kobj_ids_entry;
import dev.cryo.image.proto.utsns_entry;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A tree whose root is pid 1 of a pid namespace of its own, with its own mount, uts, ipc and net namespaces: a
 * container, as runc hands it over (engine/docs/containers.md). Its images are CRIU's for a container: pstree.img
 * and every per-task image named by the pids inside the container, the namespaces' ids in ids-PID.img (new ids for
 * the namespaces the tree does not share with Cryo), {@code utsns-N.img}, the ipc namespace's limits and SysV objects
 * ({@code ipcns-var/shm/msg/sem-N.img}, {@code resource/IpcNamespace}) and {@code mountpoints-N.img} with the
 * caller's external mounts marked.
 *
 * <p>The restore makes such images a container again ({@code restore/ContainerRestore}). Not dumped yet: a
 * net namespace's devices other than lo (runc asks for an empty one on restore).
 *
 * <p>A root in Cryo's pid namespace with network, ipc or uts namespaces of its own ({@code unshare -n -i -u}) has them
 * dumped the same way (new ids, utsns, ipcns and netns images; a network namespace only when it holds lo alone,
 * {@code net/LoopbackNamespace}); its pids and mounts are Cryo's. Pre-dumps and --track-mem work as for any tree,
 * the previous images named by the pids inside.
 */
final class ContainerDump {
    /** Namespaces by the order CRIU numbers a task's own: pid, net, ipc, uts, mnt, then cgroup. */
    private static final String[] KINDS = {"pid", "net", "ipc", "uts", "mnt", "cgroup"};
    /** Namespaces a container must share with Cryo: Cryo does not dump a user or time namespace. */
    private static final String[] SHARED = {"user", "time"};
    /** The first id of a namespace of the tree's own: Cryo's own (inventory root_ids) are 1..8. */
    private static final int FIRST_OWN_NS_ID = 9;
    private static final int CLONE_NEWUTS = 0x04000000, CLONE_NEWIPC = 0x08000000;

    /** Namespaces a tree in Cryo's pid namespace may have of its own, its root's: dumped with it as a container's. */
    private static final String[] OWN_WITHOUT_PID = {"net", "ipc", "uts"};

    static final ContainerDump NONE = none();

    private final int root;
    /** Whether the root is a pid namespace's init (a container); else it has only some of OWN_WITHOUT_PID. */
    private final boolean pidNs;
    /** lo of the root's network namespace of its own, when that is dumped (not external); else null. */
    private dev.cryo.image.proto.net_device_entry loopback;
    private final Map<String, String> externalMounts;          // mountpoint -> key
    private final Map<Long, String> externalNets;              // net namespace inode -> key (--external net[INO]:KEY)
    private final Map<Long, Integer> nsIds = new HashMap<>();   // namespace inode -> id in the images
    private final Map<Integer, Integer> inner = new java.util.concurrent.ConcurrentHashMap<>(); // host -> inside

    /**
     * The dumping thread's namespaces by kind (inode), read once where the dump starts: the image writers' threads
     * need not share them (a Cryo thread that entered the tree's network namespace dumps it as its own).
     */
    private final Map<String, Long> mine = new HashMap<>();

    private ContainerDump(int root, boolean pidNs, Map<String, String> externalMounts, Map<Long, String> externalNets)
            throws CryoException {
        this.root = root;
        this.pidNs = pidNs;
        if (root != 0) {
            for (String kind : KINDS) {
                mine.put(kind, nsInode("thread-self", kind));
            }
        }
        this.externalMounts = externalMounts;
        this.externalNets = externalNets;
    }

    private static ContainerDump none() {
        try {
            return new ContainerDump(0, false, Map.of(), Map.of());
        } catch (CryoException e) {
            throw new IllegalStateException(e); // reads nothing without a root
        }
    }

    /** Whether the root is a container's init: the images name its tasks by their pids inside. */
    boolean active() {
        return root != 0 && pidNs;
    }

    /** Whether the root has namespaces of its own that are dumped with the tree (a container's, or unshare -n/-i/-u). */
    boolean ownNamespaces() {
        return root != 0;
    }

    /** Whether the root has an ipc namespace of its own: its SysV objects are dumped with it, whole. */
    boolean ownIpc() throws CryoException {
        return ownNamespaces() && !isMine(root, "ipc");
    }

    /**
     * The container the dump's root is the init of, or {@link #NONE} when it shares Cryo's pid namespace. Refuses,
     * before anything is touched, what Cryo cannot dump yet.
     */
    static ContainerDump of(DumpOptions options) throws CryoException {
        int pid = options.pid();
        if (nsInodeOrGone(pid) == -1) {
            return NONE; // no such process: the tree check names it
        }
        String who = "cannot dump pid " + pid + ": ";
        if (sameAsMine(pid, "pid")) {
            return ownWithoutPid(pid, options);
        }
        int[] nspid = nsPids(pid, pid);
        if (nspid.length != 2) {
            throw new CryoException(who + "it lives " + (nspid.length - 1) + " pid namespaces below Cryo's; Cryo dumps "
                    + "a pid namespace only as a direct child of its own (a container's, seen from the host)");
        }
        if (nspid[1] != 1) {
            throw new CryoException(who + "it is pid " + nspid[1] + " of a pid namespace of its own, not its init; "
                    + "Cryo dumps a pid namespace only whole, from its pid 1 (a container's init)");
        }
        for (String kind : SHARED) {
            if (!sameAsMine(pid, kind)) {
                throw new CryoException(who + "the container has a " + kind + " namespace of its own, which Cryo "
                        + "cannot dump yet; run it in the host's " + kind + " namespace");
            }
        }
        Map<String, String> ext = new LinkedHashMap<>();
        Map<Long, String> nets = new HashMap<>();
        externals(pid, options, ext, nets);
        ContainerDump c = new ContainerDump(pid, true, ext, nets);
        c.numberRootNamespaces();
        return c;
    }

    /**
     * A root in Cryo's pid namespace with a network, ipc or uts namespace of its own ({@code unshare -n -i -u}): those
     * are dumped with the tree, as CRIU dumps a root's own, and the restore makes them new with the root. Its other
     * tasks must share them (TargetCheck). {@link #NONE} when it has none of them.
     */
    private static ContainerDump ownWithoutPid(int pid, DumpOptions options) throws CryoException {
        boolean own = false;
        for (String kind : OWN_WITHOUT_PID) {
            try {
                own |= !sameAsMine(pid, kind);
            } catch (CryoException unreadable) {
                // a leader thread that exited (its namespaces go with it) or a task gone: the tree check names it
                return NONE;
            }
        }
        if (!own) {
            return NONE;
        }
        Map<String, String> ext = new LinkedHashMap<>();
        Map<Long, String> nets = new HashMap<>();
        externals(pid, options, ext, nets);
        ContainerDump c = new ContainerDump(pid, false, Map.of(), nets);
        if (!sameAsMine(pid, "net") && !nets.containsKey(nsInode(pid, "net"))) {
            c.loopback = dev.cryo.engine.net.LoopbackNamespace.dump(pid); // refuses more than lo
        }
        c.numberRootNamespaces();
        return c;
    }

    /** --external mnt[MOUNTPOINT]:KEY into {@code mounts}, net[INO]:KEY into {@code nets}. */
    private static void externals(int pid, DumpOptions options, Map<String, String> ext, Map<Long, String> nets)
            throws CryoException {
        for (String e : options.files().external()) {
            // mnt[MOUNTPOINT]:KEY, as CRIU's --external and runc's ext_mnt name a mount; net[INO]:KEY a net namespace
            // the caller keeps (runc's, Podman's, by the path in config.json) and gives back on restore
            int close = e.indexOf("]:");
            if (e.startsWith("mnt[") && close > 4) {
                ext.put(e.substring(4, close), e.substring(close + 2));
            } else if (e.startsWith("net[") && close > 4) {
                try {
                    nets.put(Long.parseLong(e.substring(4, close)), e.substring(close + 2));
                } catch (NumberFormatException bad) {
                    throw new CryoException("cannot dump pid " + pid + ": --external " + e + ": the net namespace is "
                            + "named by its inode number, as net[4026532376]:KEY");
                }
            }
        }
    }

    /** Every task of the tree in the root's pid namespace, one level below Cryo's. */
    void requireOneNamespace(Collection<Integer> pids) throws CryoException {
        if (!active()) {
            long mine = nsInode((int) ProcessHandle.current().pid(), "pid");
            for (int p : pids) {
                long ns = p == root ? mine : nsInodeOrGone(p);
                if (ns != -1 && ns != mine) {
                    String init = "from its init";
                    try {
                        int[] nspid = nsPids(p, p);
                        if (nspid.length == 2 && nspid[1] == 1) {
                            // unshare --pid --fork: the tree's child is the namespace's init, which can be dumped
                            init = "from its init: dump -t " + p + " dumps it, and the namespace, alone";
                        }
                    } catch (CryoException | RuntimeException gone) {
                        // the generic way out
                    }
                    throw new CryoException("cannot dump pid " + p + " (in the tree of " + pids.iterator().next()
                            + "): it lives in a pid namespace of its own, which Cryo dumps only as a container, "
                            + init);
                }
            }
            return;
        }
        long rootNs = nsInode(root, "pid");
        for (int p : pids) {
            long ns = nsInodeOrGone(p);
            if (ns != -1 && ns != rootNs) {
                throw new CryoException("cannot dump pid " + root + ": pid " + p + " of its tree lives in a nested pid "
                        + "namespace, which Cryo cannot dump yet");
            }
            if (ns == -1) {
                continue; // exited and reaped since the tree was listed (a shell loop's sleep): the freeze drops it
            }
            try {
                inner(p); // known before the memory writers ask for it (innerKnown)
            } catch (CryoException e) {
                if (nsInodeOrGone(p) != -1) {
                    throw e;
                }
                // it exited meanwhile
            }
        }
    }

    /** {@link #inner} of a process whose pid {@link #requireOneNamespace} has read: for the image writers' threads. */
    int innerKnown(int host) {
        return active() ? inner.getOrDefault(host, host) : host;
    }

    /** A pid or tid of the tree as the container sees it (the images' pid); the same pid when not a container. */
    int inner(int host) throws CryoException {
        if (!active() || host == 0) {
            return host;
        }
        Integer known = inner.get(host);
        if (known == null) {
            int[] ns = nsPids(root, host);
            known = ns[ns.length - 1];
            inner.put(host, known);
        }
        return known;
    }

    /** pstree.img's entry with the container's pids; groups and sessions as the task sees them (NSpgid, NSsid). */
    pstree_entry pstree(pstree_entry e) throws CryoException {
        if (!active()) {
            return e;
        }
        pstree_entry.Builder b = e.toBuilder().setPid(inner(e.getPid()))
                .setPpid(e.getPid() == root ? 0 : inner(e.getPpid()))
                .setPgid(statusField(e.getPid(), "NSpgid")).setSid(statusField(e.getPid(), "NSsid"))
                .clearThreads();
        for (int tid : e.getThreadsList()) {
            b.addThreads(inner(tid));
        }
        return b.build();
    }

    /** ids-PID.img's entry: the namespaces the task shares with Cryo keep Cryo's ids, its own get new ones. */
    task_kobj_ids_entry ids(int hostPid, task_kobj_ids_entry e) throws CryoException {
        if (!ownNamespaces()) {
            return e;
        }
        task_kobj_ids_entry.Builder b = e.toBuilder();
        if (!pidNs) {
            return b.setNetNsId(nsId(hostPid, "net", e.getNetNsId())).setIpcNsId(nsId(hostPid, "ipc", e.getIpcNsId()))
                    .setUtsNsId(nsId(hostPid, "uts", e.getUtsNsId())).build();
        }
        b.setPidNsId(nsId(hostPid, "pid", e.getPidNsId())).setNetNsId(nsId(hostPid, "net", e.getNetNsId()))
                .setIpcNsId(nsId(hostPid, "ipc", e.getIpcNsId())).setUtsNsId(nsId(hostPid, "uts", e.getUtsNsId()))
                .setMntNsId(nsId(hostPid, "mnt", e.getMntNsId()))
                .setCgroupNsId(nsId(hostPid, "cgroup", e.getCgroupNsId()));
        return b.build();
    }

    /** The namespaces' own images: utsns-N.img (host and domain name) and mountpoints-N.img. */
    void writeImages(ImageDir dir, dev.cryo.engine.log.Log log) throws CryoException, IOException {
        if (!ownNamespaces()) {
            return;
        }
        task_kobj_ids_entry ids = ids(root, dev.cryo.engine.resource.TaskResources.ids(1));
        if (!isMine(root, "uts")) {
            dir.write("utsns-" + ids.getUtsNsId() + ".img", ImageFile.of("UTSNS", List.of(utsNames(root))));
        }
        if (!isMine(root, "ipc")) {
            // its limits, and every SysV object in it, attached by the tree or not (the tasks' SysV mappings only
            // name them: SharedMemory leaves them to this)
            dir.write("ipcns-var-" + ids.getIpcNsId() + ".img", ImageFile.of("IPC_VAR", List.of(ipcVariables(root))));
            dev.cryo.engine.resource.IpcNamespace.dump(root, ids.getIpcNsId(), dir, log);
        }
        if (!isMine(root, "net")) {
            // only its name: an external one is the caller's to keep, and the restore joins the one it is given
            String key = externalNets.get(nsInode(root, "net"));
            if (key != null) {
                dir.write("netns-" + ids.getNetNsId() + ".img", ImageFile.of("NETNS",
                        List.of(dev.cryo.image.proto.netns_entry.newBuilder().setExtKey(key).build())));
            } else {
                dev.cryo.image.proto.net_device_entry lo = loopback;
                if (lo == null) {
                    try {
                        lo = dev.cryo.engine.net.LoopbackNamespace.dump(root);
                    } catch (CryoException more) {
                        // a container's with more than lo: its runtime makes it again (runc asks for --empty-ns net)
                        log.debug("the network namespace of pid %d is not dumped: %s", root, more.getMessage());
                    }
                }
                if (lo != null) {
                    // lo alone: made again new on restore, lo up or down as it was; the namespace's sysctls are not
                    // in the images (one with firewall rules was refused: LoopbackNamespace)
                    dir.write("netns-" + ids.getNetNsId() + ".img", ImageFile.of("NETNS",
                            List.of(dev.cryo.image.proto.netns_entry.getDefaultInstance())));
                    dir.write("netdev-" + ids.getNetNsId() + ".img", ImageFile.of("NETDEV", List.of(lo)));
                    log.info("network namespace of pid %d (lo alone, %s, mtu %d) in netdev-%d.img; its sysctls "
                            + "are not dumped", root, (lo.getFlags() & 1) != 0 ? "up" : "down",
                            lo.getMtu(), ids.getNetNsId());
                }
            }
        }
        if (pidNs && !isMine(root, "mnt")) {
            var mounts = MountNamespace.dump(root, externalMounts);
            MountNamespace.write(dir, ids.getMntNsId(), mounts);
            dev.cryo.engine.resource.TmpfsContents.dump(root, mounts, dir);
        }
    }

    private int nsId(int pid, String kind, int cryos) throws CryoException {
        if (isMine(pid, kind)) {
            return cryos;
        }
        return nsIds.computeIfAbsent(nsInode(pid, kind), ino -> FIRST_OWN_NS_ID + nsIds.size());
    }

    /** CRIU numbers a container's namespaces in this order: the root's pid, net, ipc, uts, mnt, cgroup. */
    private void numberRootNamespaces() throws CryoException {
        for (String kind : pidNs ? KINDS : OWN_WITHOUT_PID) {
            nsId(root, kind, 0);
        }
    }

    /** What a thread of Cryo's reads once it has joined one of the task's namespaces. */
    private interface Reader<T> {
        T read(NativeBuffer scratch) throws SyscallException, IOException;
    }

    /**
     * Runs {@code reader} in a thread of Cryo's that joins {@code pid}'s namespace of that kind first and ends with it
     * ({@link dev.cryo.engine.sys.NamespaceThread}), so no other thread of Cryo's ever runs in the container's namespace.
     */
    private static <T> T inNamespace(int pid, String kind, int nsFlag, Reader<T> reader) throws CryoException {
        try {
            return dev.cryo.engine.sys.NamespaceThread.run(pid, kind, nsFlag,
                    () -> reader.read(NativeBuffer.allocate(6 * 65)));
        } catch (CryoException e) {
            throw e;
        } catch (Exception e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read its " + kind + " namespace: "
                    + e.getMessage(), e);
        }
    }

    /** The uts namespace's node and domain name, from uname(2) inside it. */
    private static utsns_entry utsNames(int pid) throws CryoException {
        return inNamespace(pid, "uts", CLONE_NEWUTS, b -> {
            b.zero(0, 6 * 65);
            Syscall.call("uname", 63 /* uname */, b.address());
            return utsns_entry.newBuilder().setNodename(cString(b, 65)).setDomainname(cString(b, 5 * 65)).build();
        });
    }

    /**
     * The ipc namespace's limits, as CRIU's ipcns-var image holds them (/proc/sys/kernel and /proc/sys/fs/mqueue read
     * inside it); the next-id knobs only when set (-1, their default, is left out, as CRIU does).
     */
    private static ipc_var_entry ipcVariables(int pid) throws CryoException {
        return inNamespace(pid, "ipc", CLONE_NEWIPC, b -> {
            ipc_var_entry.Builder e = ipc_var_entry.newBuilder();
            for (String v : sysctl("kernel/sem").split("\\s+")) {
                e.addSemCtls(Integer.parseUnsignedInt(v));
            }
            e.setMsgCtlmax(uint(sysctl("kernel/msgmax"))).setMsgCtlmnb(uint(sysctl("kernel/msgmnb")))
                    .setMsgCtlmni(uint(sysctl("kernel/msgmni")))
                    .setAutoMsgmni(Files.exists(Path.of("/proc/sys/kernel/auto_msgmni"))
                            ? uint(sysctl("kernel/auto_msgmni")) : 0)
                    .setShmCtlmax(Long.parseUnsignedLong(sysctl("kernel/shmmax")))
                    .setShmCtlall(Long.parseUnsignedLong(sysctl("kernel/shmall")))
                    .setShmCtlmni(uint(sysctl("kernel/shmmni"))).setShmRmidForced(uint(sysctl("kernel/shm_rmid_forced")))
                    .setMqQueuesMax(uint(sysctl("fs/mqueue/queues_max"))).setMqMsgMax(uint(sysctl("fs/mqueue/msg_max")))
                    .setMqMsgsizeMax(uint(sysctl("fs/mqueue/msgsize_max")))
                    .setMqMsgDefault(uint(sysctl("fs/mqueue/msg_default")))
                    .setMqMsgsizeDefault(uint(sysctl("fs/mqueue/msgsize_default")));
            int msgNext = Integer.parseInt(sysctl("kernel/msg_next_id")), semNext = Integer.parseInt(
                    sysctl("kernel/sem_next_id")), shmNext = Integer.parseInt(sysctl("kernel/shm_next_id"));
            if (msgNext != -1) {
                e.setMsgNextId(msgNext);
            }
            if (semNext != -1) {
                e.setSemNextId(semNext);
            }
            if (shmNext != -1) {
                e.setShmNextId(shmNext);
            }
            return e.build();
        });
    }

    /** A sysctl's text. Not Files.readString: a sysctl file reports size 0, and that read returned one byte here. */
    private static String sysctl(String name) throws IOException {
        try (java.io.InputStream in = Files.newInputStream(Path.of("/proc/sys/" + name))) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        }
    }

    private static int uint(String v) {
        return Integer.parseUnsignedInt(v);
    }

    private static String cString(NativeBuffer b, int offset) {
        byte[] bytes = b.bytes(offset, 65);
        int n = 0;
        while (n < bytes.length && bytes[n] != 0) {
            n++;
        }
        return new String(bytes, 0, n, StandardCharsets.UTF_8);
    }

    /**
     * Whether {@code pid} shares the dumping thread's namespace of that kind: the thread's, not the process's, since a
     * Cryo thread that entered the tree's network namespace (nsenter, a test's private one) dumps it as its own.
     */
    /** Whether {@code pid} shares the namespace of that kind the dump started in ({@link #mine}). */
    private boolean isMine(int pid, String kind) throws CryoException {
        return nsInode(pid, kind) == mine.get(kind);
    }

    private static boolean sameAsMine(int pid, String kind) throws CryoException {
        try {
            return Files.readSymbolicLink(Path.of("/proc/thread-self/ns/" + kind))
                    .equals(Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/" + kind)));
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read its " + kind + " namespace in /proc/"
                    + pid + "/ns: " + e.getMessage());
        }
    }

    private static long nsInode(int pid, String kind) throws CryoException {
        return nsInode(Integer.toString(pid), kind);
    }

    /** The inode of /proc/{@code who}/ns/{@code kind} ({@code who} a pid, or thread-self). */
    private static long nsInode(String who, String kind) throws CryoException {
        int pid = who.equals("thread-self") ? (int) ProcessHandle.current().pid() : Integer.parseInt(who);
        try {
            return inode(Files.readSymbolicLink(Path.of("/proc/" + who + "/ns/" + kind)).toString());
        } catch (IOException | RuntimeException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read its " + kind + " namespace in /proc/"
                    + pid + "/ns: " + e.getMessage());
        }
    }

    /**
     * {@link #nsInode}, or -1 for a task that exited and was reaped since the tree was listed (ENOENT): the freeze,
     * which reads the tree again, deals with a task that is gone.
     */
    private static long nsInodeOrGone(int pid) throws CryoException {
        try {
            return inode(Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/pid")).toString());
        } catch (java.nio.file.NoSuchFileException gone) {
            return -1;
        } catch (java.nio.file.AccessDeniedException e) {
            throw new CryoException("cannot dump pid " + pid + ": reading its namespaces (/proc/" + pid + "/ns/pid) "
                    + "is denied by the kernel's ptrace access check: Cryo may not trace this process");
        } catch (IOException | RuntimeException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read its pid namespace in /proc/" + pid
                    + "/ns: " + e.getMessage());
        }
    }

    /** The inode of a namespace link's text, "pid:[INO]". */
    private static long inode(String link) {
        return Long.parseLong(link.substring(link.indexOf('[') + 1, link.indexOf(']')));
    }

    /** NSpid of a pid or tid (read through the root's task list for a thread): the outermost first. */
    private static int[] nsPids(int root, int id) throws CryoException {
        String[] f = statusLine(Files.exists(Path.of("/proc/" + id)) ? Path.of("/proc/" + id + "/status")
                : Path.of("/proc/" + root + "/task/" + id + "/status"), id, "NSpid");
        int[] out = new int[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = Integer.parseInt(f[i]);
        }
        return out;
    }

    private static int statusField(int pid, String key) throws CryoException {
        String[] f = statusLine(Path.of("/proc/" + pid + "/status"), pid, key);
        return Integer.parseInt(f[f.length - 1]);
    }

    private static String[] statusLine(Path status, int id, String key) throws CryoException {
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith(key + ":")) {
                    return line.substring(key.length() + 1).strip().split("\\s+");
                }
            }
            throw new CryoException("cannot dump pid " + id + ": " + status + " has no " + key + " line");
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + id + ": cannot read " + status + ": " + e.getMessage());
        }
    }
}
