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
import java.util.zip.GZIPOutputStream;

/**
 * The contents of a container's tmpfs mounts, as CRIU keeps them: one {@code tmpfs-dev-MINOR.tar.gz.img} per tmpfs
 * superblock (MINOR from the mount's {@code root_dev}), a gzip'd ustar archive with no image header, names as GNU
 * tar writes them ({@code ./dir/name}), which CRIU's restore extracts with {@code tar --extract --gzip}. Read through
 * {@code /proc/PID/root}, the container's own view, leaving out what another mount covers (another device).
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
}
