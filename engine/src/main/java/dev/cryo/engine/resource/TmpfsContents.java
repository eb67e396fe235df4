package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.image.ImageChecksums;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.fstype;
import dev.cryo.image.proto.mnt_entry;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * The contents of a container's tmpfs mounts, as CRIU keeps them: one {@code tmpfs-dev-MINOR.tar.gz.img} per tmpfs
 * superblock (MINOR from the mount's {@code root_dev}), a gzip'd ustar archive with no image header, names as GNU
 * tar writes them ({@code ./dir/name}), which CRIU's restore extracts with {@code tar --extract --gzip}. Read through
 * {@code /proc/PID/root}, the container's own view, leaving out what another mount covers (another device). The
 * restore extracts such an archive (Cryo's, or GNU tar's from CRIU) into the fresh tmpfs, in Java.
 */
public final class TmpfsContents {
    private static final int BLOCK = 512;

    private TmpfsContents() {
    }

    public static String imageName(int rootDev) {
        return "tmpfs-dev-" + (rootDev & 0xfffff) + ".tar.gz.img";
    }

    /** Writes one archive per tmpfs superblock of the namespace that is not external, from its mount of "/". */
    public static void dump(int pid, List<mnt_entry> mounts, ImageDir dir) throws CryoException {
        Set<Integer> done = new HashSet<>();
        for (mnt_entry m : mounts) {
            if (m.getFstype() != fstype.TMPFS.getNumber() || m.hasExtKey() || !m.getRoot().equals("/")
                    || !done.add(m.getRootDev())) {
                continue;
            }
            Path top = Path.of("/proc/" + pid + "/root" + m.getMountpoint());
            String name = imageName(m.getRootDev());
            try {
                byte[] archive = archive(top);
                try (ImageChecksums.Sink sums = dir.checksumSink(name)) {
                    Files.write(dir.resolve(name), archive);
                    sums.update(ByteBuffer.wrap(archive));
                }
            } catch (IOException | RuntimeException e) {
                throw new CryoException("cannot dump pid " + pid + ": cannot archive the tmpfs at " + m.getMountpoint()
                        + " (" + top + ") into " + name + ": " + e.getMessage(), e);
            }
        }
    }

    /** The gzip'd ustar archive of the file tree at {@code top}, that filesystem only. */
    static byte[] archive(Path top) throws IOException {
        Object dev = Files.getAttribute(top, "unix:dev", LinkOption.NOFOLLOW_LINKS);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bytes)) {
            Files.walkFileTree(top, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes a) throws IOException {
                    entry(gz, top, d);
                    if (!d.equals(top) && !dev.equals(Files.getAttribute(d, "unix:dev", LinkOption.NOFOLLOW_LINKS))) {
                        // another mount over this directory: the directory is kept (the restore mounts on it, as
                        // CRIU's archive has it), with the covering mount's attributes, the only ones visible here;
                        // what is under it is that mount's
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                    if (dev.equals(Files.getAttribute(f, "unix:dev", LinkOption.NOFOLLOW_LINKS))) {
                        entry(gz, top, f);
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
            gz.write(new byte[2 * BLOCK]); // the end of the archive
        }
        return bytes.toByteArray();
    }

    private static void entry(OutputStream out, Path top, Path p) throws IOException {
        Map<String, Object> a = Files.readAttributes(p, "unix:mode,uid,gid,size,lastModifiedTime,rdev",
                LinkOption.NOFOLLOW_LINKS);
        int mode = (Integer) a.get("mode");
        int kind = mode & 0170000;
        char type;
        switch (kind) {
            case 0040000 -> type = '5';
            case 0100000 -> type = '0';
            case 0120000 -> type = '2';
            case 0020000 -> type = '3';
            case 0060000 -> type = '4';
            case 0010000 -> type = '6';
            default -> {
                return; // a socket: tar leaves it out too
            }
        }
        String rel = top.relativize(p).toString();
        String name = rel.isEmpty() ? "./" : "./" + rel + (type == '5' ? "/" : "");
        String link = type == '2' ? Files.readSymbolicLink(p).toString() : "";
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        byte[] linkBytes = link.getBytes(StandardCharsets.UTF_8);
        if (nameBytes.length > 100 || linkBytes.length > 100) {
            throw new IOException(p + ": a name or link target over 100 bytes, which this archive cannot hold yet");
        }
        long size = type == '0' ? (Long) a.get("size") : 0;
        long rdev = (Long) a.get("rdev");
        byte[] h = new byte[BLOCK];
        put(h, 0, nameBytes);
        octal(h, 100, 8, mode & 07777);
        octal(h, 108, 8, (Integer) a.get("uid"));
        octal(h, 116, 8, (Integer) a.get("gid"));
        octal(h, 124, 12, size);
        octal(h, 136, 12, ((java.nio.file.attribute.FileTime) a.get("lastModifiedTime")).toMillis() / 1000);
        h[156] = (byte) type;
        put(h, 157, linkBytes);
        put(h, 257, "ustar\0".getBytes(StandardCharsets.US_ASCII));
        put(h, 263, "00".getBytes(StandardCharsets.US_ASCII));
        if (type == '3' || type == '4') {
            // glibc's major/minor of a 64-bit dev_t
            octal(h, 329, 8, ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL));
            octal(h, 337, 8, (rdev & 0xff) | ((rdev >>> 12) & ~0xffL));
        }
        java.util.Arrays.fill(h, 148, 156, (byte) ' ');
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        octal(h, 148, 7, sum);
        out.write(h);
        if (size > 0) {
            long n = Files.copy(p, out);
            if (n != size) {
                throw new IOException(p + " changed size while it was archived (" + size + " -> " + n + " bytes)");
            }
            int pad = (int) ((BLOCK - n % BLOCK) % BLOCK);
            out.write(new byte[pad]);
        }
    }

    private static void put(byte[] h, int at, byte[] v) {
        System.arraycopy(v, 0, h, at, v.length);
    }

    /** A zero-padded octal number ending in NUL, in a field of {@code len} bytes. */
    private static void octal(byte[] h, int at, int len, long v) {
        String s = Long.toOctalString(v);
        if (s.length() > len - 1) {
            throw new IllegalArgumentException("value " + v + " does not fit a tar field of " + len + " bytes");
        }
        s = "0".repeat(len - 1 - s.length()) + s;
        put(h, at, s.getBytes(StandardCharsets.US_ASCII));
        h[at + len - 1] = 0;
    }

    static final int AT_SYMLINK_NOFOLLOW = 0x100, MKNODAT = 259, FCHOWNAT = 260, FCHMODAT = 268, UTIMENSAT = 280;

    /**
     * Extracts {@code archive} (gzip'd ustar, as {@link #dump} and GNU tar write it) into the directory {@code top}:
     * directories, files, symlinks, hard links, device nodes and FIFOs with their owners, modes and times; the
     * directories' own last, so that their contents could be written. A name that leaves {@code top} is refused.
     */
    public static void restore(Path archive, Path top) throws IOException {
        List<Object[]> dirs = new java.util.ArrayList<>(); // path, mode, uid, gid, mtime
        try (java.io.InputStream in = new GZIPInputStream(new java.io.BufferedInputStream(Files.newInputStream(archive)))) {
            String longName = null, longLink = null;
            byte[] h = new byte[BLOCK];
            while (readBlock(in, h)) {
                if (allZero(h)) {
                    break; // the end of the archive
                }
                char type = (char) (h[156] == 0 ? '0' : h[156]);
                long size = number(h, 124, 12);
                if (type == 'L' || type == 'K' || type == 'x' || type == 'g') {
                    byte[] data = readData(in, size);
                    String v = new String(data, StandardCharsets.UTF_8);
                    v = v.indexOf('\0') >= 0 ? v.substring(0, v.indexOf('\0')) : v;
                    if (type == 'L') {
                        longName = v;
                    } else if (type == 'K') {
                        longLink = v;
                    }
                    continue; // pax headers carry nothing this archive needs (times and owners are in the header)
                }
                String name = longName != null ? longName : text(h, 345, 155).isEmpty() ? text(h, 0, 100)
                        : text(h, 345, 155) + "/" + text(h, 0, 100);
                String link = longLink != null ? longLink : text(h, 157, 100);
                longName = longLink = null;
                Path p = inside(top, name);
                int mode = (int) number(h, 100, 8) & 07777;
                int uid = (int) number(h, 108, 8), gid = (int) number(h, 116, 8);
                long mtime = number(h, 136, 12);
                String at = p.toString();
                switch (type) {
                    case '0', '7' -> {
                        Files.deleteIfExists(p);
                        try (OutputStream out = Files.newOutputStream(p)) {
                            copy(in, out, size);
                        }
                        size = 0;
                    }
                    case '5' -> {
                        Files.createDirectories(p);
                        dirs.add(new Object[]{p, mode, uid, gid, mtime});
                        continue;
                    }
                    case '2' -> {
                        Files.deleteIfExists(p);
                        Files.createSymbolicLink(p, Path.of(link));
                    }
                    case '1' -> {
                        Files.deleteIfExists(p);
                        Files.createLink(p, inside(top, link));
                        continue; // the link shares its target's inode: owner and mode are the target's
                    }
                    case '3', '4', '6' -> {
                        Files.deleteIfExists(p);
                        int kind = type == '3' ? 0020000 : type == '4' ? 0060000 : 0010000;
                        long major = number(h, 329, 8), minor = number(h, 337, 8);
                        long dev = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xffL) << 12)
                                | ((major & ~0xfffL) << 32);
                        sys("mknod " + at, MKNODAT, at, kind | mode, dev);
                    }
                    default -> throw new IOException("entry " + name + " is of tar type '" + type
                            + "', which Cryo does not extract");
                }
                skip(in, size);
                owner(at, uid, gid, mode, mtime, type == '2');
            }
        }
        java.util.Collections.reverse(dirs); // the deepest first: a parent's time is set after its children are made
        for (Object[] d : dirs) {
            owner(d[0].toString(), (Integer) d[2], (Integer) d[3], (Integer) d[1], (Long) d[4], false);
        }
    }

    /** {@code name} under {@code top}; "./" and the archive's own "." are top itself. */
    private static Path inside(Path top, String name) throws IOException {
        Path rel = Path.of(name.startsWith("/") ? name.substring(1) : name).normalize();
        if (rel.startsWith("..")) {
            throw new IOException("entry " + name + " leaves the directory it is extracted into");
        }
        return rel.toString().isEmpty() ? top : top.resolve(rel);
    }

    private static void owner(String at, int uid, int gid, int mode, long mtime, boolean symlink) throws IOException {
        sys("chown " + at, FCHOWNAT, at, uid, gid, AT_SYMLINK_NOFOLLOW);
        if (!symlink) {
            sys("chmod " + at, FCHMODAT, at, mode, 0);
        }
        dev.cryo.engine.sys.NativeBuffer t = dev.cryo.engine.sys.NativeBuffer.allocate(32);
        t.putLong(0, mtime);
        t.putLong(8, 0);
        t.putLong(16, mtime);
        t.putLong(24, 0);
        dev.cryo.engine.sys.NativeBuffer path = cPath(at);
        long r = dev.cryo.engine.sys.Syscall.raw(UTIMENSAT, -100, path.address(), t.address(), AT_SYMLINK_NOFOLLOW);
        if (r < 0) {
            throw new IOException("utimensat " + at + ": " + dev.cryo.engine.sys.SyscallException.describe((int) -r));
        }
    }

    /** A *at syscall on an absolute path, its arguments after the path. */
    private static void sys(String what, int nr, String at, long a, long b, long... c) throws IOException {
        dev.cryo.engine.sys.NativeBuffer path = cPath(at);
        long r = c.length == 0 ? dev.cryo.engine.sys.Syscall.raw(nr, -100, path.address(), a, b)
                : dev.cryo.engine.sys.Syscall.raw(nr, -100, path.address(), a, b, c[0]);
        if (r < 0) {
            throw new IOException(what + ": " + dev.cryo.engine.sys.SyscallException.describe((int) -r));
        }
    }

    private static dev.cryo.engine.sys.NativeBuffer cPath(String at) {
        byte[] p = (at + "\0").getBytes(StandardCharsets.UTF_8);
        dev.cryo.engine.sys.NativeBuffer b = dev.cryo.engine.sys.NativeBuffer.allocate(p.length);
        b.put(0, p);
        return b;
    }

    private static boolean readBlock(java.io.InputStream in, byte[] h) throws IOException {
        int n = in.readNBytes(h, 0, BLOCK);
        if (n == 0) {
            return false;
        }
        if (n < BLOCK) {
            throw new IOException("the archive ends inside a header");
        }
        return true;
    }

    private static boolean allZero(byte[] h) {
        for (byte b : h) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }

    private static byte[] readData(java.io.InputStream in, long size) throws IOException {
        byte[] d = in.readNBytes((int) size);
        if (d.length < size) {
            throw new IOException("the archive ends inside an entry");
        }
        skipExactly(in, padding(size));
        return d;
    }

    private static void copy(java.io.InputStream in, OutputStream out, long size) throws IOException {
        byte[] buf = new byte[65536];
        long left = size;
        while (left > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new IOException("the archive ends inside a file");
            }
            out.write(buf, 0, n);
            left -= n;
        }
        skipExactly(in, padding(size));
    }

    private static long padding(long size) {
        return (BLOCK - size % BLOCK) % BLOCK;
    }

    /** Skips {@code size} bytes of data and the padding after them. */
    private static void skip(java.io.InputStream in, long size) throws IOException {
        skipExactly(in, size + padding(size));
    }

    private static void skipExactly(java.io.InputStream in, long bytes) throws IOException {
        long left = bytes;
        while (left > 0) {
            long n = in.skip(left);
            if (n <= 0) {
                if (in.read() < 0) {
                    throw new IOException("the archive ends inside an entry");
                }
                n = 1;
            }
            left -= n;
        }
    }

    /** A header's octal field (GNU's base-256 form for large values too). */
    private static long number(byte[] h, int at, int len) {
        if ((h[at] & 0x80) != 0) {
            long v = h[at] & 0x7f;
            for (int i = 1; i < len; i++) {
                v = (v << 8) | (h[at + i] & 0xff);
            }
            return v;
        }
        String s = text(h, at, len).strip();
        return s.isEmpty() ? 0 : Long.parseLong(s, 8);
    }

    private static String text(byte[] h, int at, int len) {
        int n = 0;
        while (n < len && h[at + n] != 0) {
            n++;
        }
        return new String(h, at, n, StandardCharsets.UTF_8);
    }
}
