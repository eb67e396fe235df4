package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.fstype;
import dev.cryo.image.proto.mnt_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;

/**
 * A task's mount namespace as CRIU's {@code mountpoints-N.img} holds it: one {@code mnt_entry} per line of
 * {@code /proc/PID/mountinfo}, the last line first (CRIU's order), the mounts a container runtime names as external
 * ({@code ext_mnt}, {@code --external mnt[MOUNTPOINT]:KEY}) marked with their key. The fields follow what CRIU 4.2
 * wrote for a runc container here (engine/docs/containers.md): a restore by either engine reads the same image.
 * {@link Restore} rebuilds the namespace in a new task of the restore, by remote syscalls in it.
 */
public final class MountNamespace {
    /** Per-mount flags (mountinfo's sixth field), as mount(2)'s MS_* bits. */
    static final int MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_SYNCHRONOUS = 0x10,
            MS_MANDLOCK = 0x40, MS_DIRSYNC = 0x80, MS_NOATIME = 0x400, MS_NODIRATIME = 0x800,
            MS_RELATIME = 0x200000, MS_STRICTATIME = 0x1000000, MS_LAZYTIME = 0x2000000;

    private static final Map<String, fstype> FSTYPES = Map.ofEntries(
            Map.entry("proc", fstype.PROC), Map.entry("sysfs", fstype.SYSFS), Map.entry("devtmpfs", fstype.DEVTMPFS),
            Map.entry("binfmt_misc", fstype.BINFMT_MISC), Map.entry("tmpfs", fstype.TMPFS),
            Map.entry("devpts", fstype.DEVPTS), Map.entry("simfs", fstype.SIMFS), Map.entry("pstore", fstype.PSTORE),
            Map.entry("securityfs", fstype.SECURITYFS), Map.entry("fusectl", fstype.FUSECTL),
            Map.entry("debugfs", fstype.DEBUGFS), Map.entry("cgroup", fstype.CGROUP), Map.entry("aufs", fstype.AUFS),
            Map.entry("mqueue", fstype.MQUEUE), Map.entry("fuse", fstype.FUSE), Map.entry("overlay", fstype.OVERLAYFS),
            Map.entry("autofs", fstype.AUTOFS), Map.entry("tracefs", fstype.TRACEFS),
            Map.entry("cgroup2", fstype.CGROUP2));

    private MountNamespace() {
    }

    /**
     * The mounts of {@code pid}'s mount namespace, read from its mountinfo.
     *
     * @param external the caller's external mounts: mountpoint (inside the task's root) -> key written to the image
     */
    public static List<mnt_entry> dump(int pid, Map<String, String> external) throws CryoException {
        Path mountinfo = Path.of("/proc", Integer.toString(pid), "mountinfo");
        String text;
        try {
            if (Files.readSymbolicLink(Path.of("/proc", Integer.toString(pid), "ns", "cgroup"))
                    .equals(Files.readSymbolicLink(Path.of("/proc/self/ns/cgroup")))) {
                text = Files.readString(mountinfo);
            } else {
                // a cgroup mount's root is shown relative to the reader's cgroup namespace: read from inside the
                // task's, it is the root the task sees ("/" for its own cgroup), which a new mount in a new cgroup
                // namespace gives again
                text = dev.cryo.engine.sys.NamespaceThread.run(pid, "cgroup", 0x02000000 /* CLONE_NEWCGROUP */,
                        () -> Files.readString(mountinfo));
            }
        } catch (Exception e) {
            throw new CryoException("cannot dump the mounts of pid " + pid + ": cannot read " + mountinfo + ": "
                    + e.getMessage());
        }
        try {
            return entries(text, external);
        } catch (IllegalArgumentException e) {
            throw new CryoException("cannot dump the mounts of pid " + pid + ": " + mountinfo + " " + e.getMessage());
        }
    }

    /** Writes {@code mountpoints-ID.img}, ID being the mount namespace's id in ids-PID.img. */
    public static void write(ImageDir dir, int mntNsId, List<mnt_entry> mounts) throws IOException {
        dir.write(imageName(mntNsId), ImageFile.of("MNTS", mounts));
    }

    public static String imageName(int mntNsId) {
        return "mountpoints-" + mntNsId + ".img";
    }

    /** mountinfo's text as image entries, the last line first. */
    static List<mnt_entry> entries(String mountinfo, Map<String, String> external) {
        List<mnt_entry> out = new ArrayList<>();
        int lineNo = 0;
        for (String line : mountinfo.split("\n")) {
            lineNo++;
            if (line.isBlank()) {
                continue;
            }
            try {
                out.add(entry(line, external));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("line " + lineNo + " (" + line + ") cannot be read: "
                        + e.getMessage(), e);
            }
        }
        Collections.reverse(out);
        return out;
    }

    /**
     * One mountinfo line: {@code ID PARENT MAJ:MIN ROOT MOUNTPOINT MOUNT-OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTS}.
     */
    static mnt_entry entry(String line, Map<String, String> external) {
        String[] f = line.split(" ");
        int dash = 6;
        while (!f[dash].equals("-")) {
            dash++;
        }
        String[] dev = f[2].split(":");
        int major = Integer.parseInt(dev[0]), minor = Integer.parseInt(dev[1]);
        String mountpoint = unescape(f[4]);
        String fsName = f[dash + 1];
        String source = unescape(f[dash + 2]);
        String superOpts = dash + 3 < f.length ? f[dash + 3] : "";

        mnt_entry.Builder e = mnt_entry.newBuilder()
                .setMntId(Integer.parseInt(f[0]))
                .setParentMntId(Integer.parseInt(f[1]))
                .setRootDev(major << 20 | minor) // the kernel's own encoding (new_encode_dev), as CRIU keeps it
                .setRoot(unescape(f[3]))
                .setMountpoint(mountpoint)
                .setSource(source)
                .setFstype(FSTYPES.getOrDefault(fsName.startsWith("fuse.") ? "fuse" : fsName, fstype.UNSUPPORTED)
                        .getNumber())
                .setFlags(mountFlags(f[5]))
                .setSharedId(0)
                .setMasterId(0);
        for (int i = 6; i < dash; i++) {
            if (f[i].startsWith("shared:")) {
                e.setSharedId(Integer.parseInt(f[i].substring(7)));
            } else if (f[i].startsWith("master:")) {
                e.setMasterId(Integer.parseInt(f[i].substring(7)));
            }
        }
        int sbFlags = 0;
        StringJoiner options = new StringJoiner(",");
        for (String o : superOpts.isEmpty() ? new String[0] : superOpts.split(",")) {
            switch (o) {
                case "rw" -> { }
                case "ro" -> sbFlags |= MS_RDONLY;
                case "sync" -> sbFlags |= MS_SYNCHRONOUS;
                case "mand" -> sbFlags |= MS_MANDLOCK;
                case "dirsync" -> sbFlags |= MS_DIRSYNC;
                case "lazytime" -> sbFlags |= MS_LAZYTIME;
                default -> options.add(o);
            }
        }
        if (fsName.equals("devpts") && !superOpts.contains("newinstance")) {
            options.add("newinstance"); // a container's devpts is an instance of its own: the restore mounts a new one
        }
        e.setOptions(options.toString()).setSbFlags(sbFlags);
        String key = external.get(mountpoint);
        if (key != null && !mountpoint.equals("/")) { // the root comes back from --root, never from a key
            e.setExtKey(key);
        }
        return e.build();
    }

    /** mountinfo's per-mount options as MS_* bits; no atime word means strictatime, as the kernel prints it. */
    static int mountFlags(String opts) {
        int flags = 0;
        boolean atime = false;
        for (String o : opts.split(",")) {
            switch (o) {
                case "ro" -> flags |= MS_RDONLY;
                case "nosuid" -> flags |= MS_NOSUID;
                case "nodev" -> flags |= MS_NODEV;
                case "noexec" -> flags |= MS_NOEXEC;
                case "noatime" -> { flags |= MS_NOATIME; atime = true; }
                case "nodiratime" -> flags |= MS_NODIRATIME;
                case "relatime" -> { flags |= MS_RELATIME; atime = true; }
                default -> { }
            }
        }
        return atime ? flags : flags | MS_STRICTATIME;
    }

    /** mountinfo escapes space, tab, newline and backslash as \ooo. */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length()
                    && s.substring(i + 1, i + 4).chars().allMatch(d -> d >= '0' && d <= '7')) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    static final int MS_REMOUNT = 0x20, MS_BIND = 0x1000, MS_REC = 0x4000, MS_PRIVATE = 1 << 18, MNT_DETACH = 2;
    static final int MOUNT = 165, UMOUNT2 = 166, PIVOT_ROOT = 155, CHDIR = 80;

    /** The filesystems a restore mounts anew, by CRIU's enum: what mount(2) calls them. */
    private static final Map<Integer, String> FRESH = Map.of(fstype.PROC.getNumber(), "proc",
            fstype.SYSFS.getNumber(), "sysfs", fstype.TMPFS.getNumber(), "tmpfs", fstype.DEVPTS.getNumber(), "devpts",
            fstype.MQUEUE.getNumber(), "mqueue", fstype.CGROUP.getNumber(), "cgroup",
            fstype.CGROUP2.getNumber(), "cgroup2", fstype.BINFMT_MISC.getNumber(), "binfmt_misc",
            fstype.TRACEFS.getNumber(), "tracefs", fstype.DEBUGFS.getNumber(), "debugfs");

    /**
     * A container's mount namespace as a restore rebuilds it (CRIU's order and sources): every mount decided before
     * any task is made, then made by remote syscalls in the restored root task, which lives in a new mount namespace
     * (Cryo's JVM is multi-threaded and cannot setns into one itself). Under {@code root} (the caller's host path for
     * the root mount, runc's criu-root), parent first: the root bound from {@code root}; external mounts bound from
     * the host path the caller gave for their key; proc, sysfs, tmpfs (refilled from its archive), devpts, mqueue,
     * cgroup mounted fresh; a mount of part of another mount of the namespace (runc's read-only and masked paths)
     * bound from it; then each mount's flags, and pivot_root into the root.
     */
    public static final class Restore {
        private final int pid;
        private final Path root;
        private final List<Planned> plan;

        /** One mount, its source decided. */
        private record Planned(mnt_entry m, Kind kind, String source, mnt_entry from) {
        }

        private enum Kind { ROOT, EXTERNAL, FRESH, BIND }

        private Restore(int pid, Path root, List<Planned> plan) {
            this.pid = pid;
            this.root = root;
            this.plan = plan;
        }

        /**
         * Orders and checks the image's mounts; refuses, before anything is made, a mount Cryo cannot make.
         *
         * @param pid      the image's pid of the namespace's task, for messages
         * @param external key -> host path, from --external mnt[KEY]:PATH (runc's ext_mnt)
         * @param tmpfs    whether the images hold a tmpfs archive of that root_dev
         */
        public static Restore plan(int pid, List<mnt_entry> mounts, Path root, Map<String, String> external,
                                   java.util.function.IntPredicate tmpfs) throws CryoException {
            String who = "cannot restore the mounts of pid " + pid + ": ";
            Map<Integer, mnt_entry> byId = new java.util.HashMap<>();
            for (mnt_entry m : mounts) {
                byId.put(m.getMntId(), m);
            }
            List<mnt_entry> pending = new ArrayList<>(mounts);
            Collections.reverse(pending); // mountinfo's order: mostly parents first
            List<Planned> out = new ArrayList<>();
            java.util.Set<Integer> done = new java.util.HashSet<>();
            List<mnt_entry> made = new ArrayList<>();
            boolean progress = true;
            while (!pending.isEmpty() && progress) {
                progress = false;
                for (var it = pending.iterator(); it.hasNext(); ) {
                    mnt_entry m = it.next();
                    boolean isRoot = !byId.containsKey(m.getParentMntId());
                    if (!isRoot && !done.contains(m.getParentMntId())) {
                        continue;
                    }
                    Planned p;
                    if (isRoot) {
                        if (!m.getMountpoint().equals("/")) {
                            throw new CryoException(who + "mount " + m.getMntId() + " at " + m.getMountpoint()
                                    + " has no parent in the namespace and is not its root");
                        }
                        if (root == null) {
                            throw new CryoException(who + "they are a mount namespace of their own, whose root mount "
                                    + "comes from --root PATH (criu_opts root); none was given");
                        }
                        p = new Planned(m, Kind.ROOT, root.toString(), null);
                    } else if (m.hasExtKey()) {
                        String host = external.get(m.getExtKey());
                        if (host == null) {
                            throw new CryoException(who + "mount " + m.getMountpoint() + " is external (key "
                                    + m.getExtKey() + ") and no host path is given for it; pass --external mnt["
                                    + m.getExtKey() + "]:PATH (runc: ext_mnt)");
                        }
                        if (!Files.exists(Path.of(host))) {
                            throw new CryoException(who + "external mount " + m.getMountpoint() + " (key "
                                    + m.getExtKey() + ") is to come from " + host + ", which does not exist");
                        }
                        p = new Planned(m, Kind.EXTERNAL, host, null);
                    } else {
                        mnt_entry from = made.stream().filter(o -> o.getRootDev() == m.getRootDev()
                                && !o.hasExtKey() && under(m.getRoot(), o.getRoot())).findFirst().orElse(null);
                        if (from != null) {
                            p = new Planned(m, Kind.BIND, null, from);
                        } else if (FRESH.containsKey(m.getFstype()) && m.getRoot().equals("/")) {
                            if (m.getFstype() == fstype.TMPFS.getNumber() && !tmpfs.test(m.getRootDev())) {
                                throw new CryoException(who + "tmpfs " + m.getMountpoint() + " has no archive "
                                        + TmpfsContents.imageName(m.getRootDev()) + " in the images");
                            }
                            p = new Planned(m, Kind.FRESH, m.getSource(), null);
                        } else {
                            throw new CryoException(who + "mount " + m.getMountpoint() + " (" + m.getSource()
                                    + ", root " + m.getRoot() + ") is " + (FRESH.containsKey(m.getFstype())
                                    ? "part of a filesystem not mounted whole in the namespace"
                                    : "a filesystem Cryo cannot mount anew") + "; name it external (--external mnt["
                                    + m.getMountpoint() + "]:KEY at dump, mnt[KEY]:PATH at restore)");
                        }
                    }
                    out.add(p);
                    made.add(m);
                    done.add(m.getMntId());
                    it.remove();
                    progress = true;
                }
            }
            if (!pending.isEmpty()) {
                throw new CryoException(who + "mount " + pending.get(0).getMountpoint() + " (id "
                        + pending.get(0).getMntId() + ") hangs under mount " + pending.get(0).getParentMntId()
                        + ", which the image does not hold");
            }
            return new Restore(pid, root, out);
        }

        /** Whether path {@code p} is {@code top} or under it. */
        private static boolean under(String p, String top) {
            return p.equals(top) || top.equals("/") || p.startsWith(top.endsWith("/") ? top : top + "/");
        }

        /** The host path of {@code name} (a path inside the container) before any task exists, or null. */
        public Path hostPath(String name) {
            Planned best = null;
            for (Planned p : plan) {
                String mp = p.m().getMountpoint();
                if (under(name, mp) && (best == null || mp.length() > best.m().getMountpoint().length())) {
                    best = p;
                }
            }
            if (best == null || (best.kind() != Kind.ROOT && best.kind() != Kind.EXTERNAL)) {
                return null; // on a mount made by the restore: there only once it is made
            }
            String rest = name.substring(best.m().getMountpoint().length());
            return Path.of(best.source() + (rest.startsWith("/") || rest.isEmpty() ? rest : "/" + rest));
        }

        /**
         * Makes the mounts in {@code hostPid}'s mount namespace (new, a copy of Cryo's) by remote syscalls in it, then
         * pivots it into the root. Tmpfs archives are extracted through {@code /proc/HOSTPID/root}.
         */
        public void make(int hostPid, RemoteSyscall remote, RemoteScratch scratch, ImageDir dir, Log log)
                throws CryoException {
            String step = "make the copied mounts private";
            String r = root.toString();
            try {
                // nothing done here may reach the host's mounts through propagation
                mount(remote, scratch, null, "/", null, MS_REC | MS_PRIVATE, null);
                for (Planned p : plan) {
                    mnt_entry m = p.m();
                    String target = p.kind() == Kind.ROOT ? r : r + m.getMountpoint();
                    step = "mount " + m.getMountpoint();
                    switch (p.kind()) {
                        case ROOT, EXTERNAL -> {
                            mount(remote, scratch, p.source(), target, null, MS_BIND, null);
                            if (p.kind() == Kind.EXTERNAL) {
                                remountFlags(remote, scratch, target, m.getFlags());
                            }
                        }
                        case BIND -> {
                            mnt_entry f = p.from();
                            String sub = m.getRoot().substring(f.getRoot().equals("/") ? 0 : f.getRoot().length());
                            String fromAt = f.getMountpoint().equals("/") ? r : r + f.getMountpoint();
                            mount(remote, scratch, fromAt + sub, target, null, MS_BIND, null);
                            remountFlags(remote, scratch, target, m.getFlags());
                        }
                        case FRESH -> {
                            boolean tmpfs = m.getFstype() == fstype.TMPFS.getNumber();
                            int flags = m.getFlags() | m.getSbFlags();
                            mount(remote, scratch, p.source(), target, FRESH.get(m.getFstype()),
                                    tmpfs ? flags & ~MS_RDONLY : flags, m.getOptions());
                            if (tmpfs) {
                                step = "refill tmpfs " + m.getMountpoint();
                                Path in = Path.of("/proc/" + hostPid + "/root" + target);
                                TmpfsContents.restore(dir.resolve(TmpfsContents.imageName(m.getRootDev())), in);
                                if ((flags & MS_RDONLY) != 0) {
                                    remountFlags(remote, scratch, target, m.getFlags());
                                }
                            }
                        }
                    }
                    log.debug("mount %d %s: %s %s", m.getMntId(), m.getMountpoint(), p.kind(),
                            p.source() != null ? p.source() : p.from() != null ? "of " + p.from().getMountpoint() : "");
                }
                step = "flags of the root mount";
                remountFlags(remote, scratch, r, plan.get(0).m().getFlags());
                step = "pivot_root into " + r;
                remote.call("chdir(" + r + ")", CHDIR, scratch.string(0, r));
                long dot = scratch.string(0, ".");
                remote.call("pivot_root(., .)", PIVOT_ROOT, dot, dot);
                remote.call("umount2(old root)", UMOUNT2, dot, MNT_DETACH);
                remote.call("chdir(/)", CHDIR, scratch.string(0, "/"));
            } catch (SyscallException | IOException e) {
                throw new CryoException("cannot restore the mounts of pid " + pid + ": step '" + step + "' failed: "
                        + e.getMessage(), e);
            }
        }

        /** A bind mount's per-mount flags (ro, nosuid, nodev, noexec, atime), which MS_BIND alone does not set. */
        private static void remountFlags(RemoteSyscall remote, RemoteScratch scratch, String target, int flags)
                throws SyscallException {
            int keep = flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME
                    | MS_RELATIME | MS_STRICTATIME);
            if ((keep & ~(MS_RELATIME | MS_STRICTATIME)) == 0) {
                return; // what a bind has already
            }
            mount(remote, scratch, null, target, null, MS_REMOUNT | MS_BIND | keep, null);
        }

        /** mount(2) in the task; its strings in the scratch page. */
        private static void mount(RemoteSyscall remote, RemoteScratch scratch, String source, String target,
                                  String fs, long flags, String data) throws SyscallException {
            int at = 0;
            long[] p = new long[4];
            String[] v = {source, target, fs, data == null || data.isEmpty() ? null : data};
            for (int i = 0; i < 4; i++) {
                if (v[i] != null) {
                    p[i] = scratch.string(at, v[i]);
                    at += v[i].getBytes(java.nio.charset.StandardCharsets.UTF_8).length + 1;
                }
            }
            remote.call("mount(" + (source == null ? "none" : source) + ", " + target + (fs == null ? "" : ", " + fs)
                    + ", 0x" + Long.toHexString(flags) + (v[3] == null ? "" : ", " + v[3]) + ")", MOUNT, p[0], p[1],
                    p[2], flags, p[3]);
        }
    }
}
