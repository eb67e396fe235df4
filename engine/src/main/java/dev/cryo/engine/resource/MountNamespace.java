package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
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
            text = Files.readString(mountinfo);
        } catch (IOException e) {
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
}
