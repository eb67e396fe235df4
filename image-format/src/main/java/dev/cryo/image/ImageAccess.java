package dev.cryo.image;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;

/**
 * Who may read images. They hold the process's memory (passwords, keys, tokens), so by default image files are
 * made 0600 and image directories 0700, whatever the umask; {@link #share(boolean) shared} images get CRIU's
 * modes instead (0644 files, 0755 directories, less the umask), for those who hand images to other users on purpose
 * ({@code --shared-images}). One setting per process: a CLI run dumps or restores once.
 */
public final class ImageAccess {
    public static final int PRIVATE_FILE = 0600, PRIVATE_DIR = 0700, SHARED_FILE = 0644, SHARED_DIR = 0755;
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");
    private static final Set<PosixFilePermission> SHARED = PosixFilePermissions.fromString("rw-r--r--");

    private static volatile boolean shared = Boolean.getBoolean("cryo.images.shared");

    private ImageAccess() {
    }

    /** {@code true}: images written from now on are readable by all, as CRIU writes them. */
    public static void share(boolean readableByAll) {
        shared = readableByAll;
    }

    public static boolean shared() {
        return shared;
    }

    /** Mode bits for a new image file. */
    public static int fileMode() {
        return shared ? SHARED_FILE : PRIVATE_FILE;
    }

    /** Mode bits for a new image directory. */
    public static int dirMode() {
        return shared ? SHARED_DIR : PRIVATE_DIR;
    }

    /**
     * Creates or truncates {@code file} and writes {@code bytes}; a private file is made 0600 even when it existed
     * before with wider bits (an older dump's, CRIU's).
     */
    public static void write(Path file, byte[] bytes) throws IOException {
        try (FileChannel ch = create(file)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }
    }

    /**
     * Opens {@code file} for writing from its start (created or truncated) with the image file mode. Only a regular
     * file gets that mode: a log sent to {@code /dev/null}, a terminal or a FIFO ({@code -o /dev/null}, {@code -o
     * /dev/stderr}) is written to as it is, its mode left alone (made 0600, /dev/null refused every other user).
     */
    public static FileChannel create(Path file) throws IOException {
        FileChannel ch = FileChannel.open(file, EnumSet.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING), PosixFilePermissions.asFileAttribute(shared ? SHARED : OWNER_ONLY));
        if (!shared && Files.isRegularFile(file)) {
            try {
                Files.setPosixFilePermissions(file, OWNER_ONLY);
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        }
        return ch;
    }

    /**
     * Makes a dump's directory private (unless images are shared): group and other bits cleared. A directory that
     * is not its owner's alone to decide on (sticky, such as /tmp, or owned by another user) is left as it is;
     * its image files are private all the same.
     *
     * @return what was done, for the log, or null when nothing changed
     */
    public static String tighten(Path dir) throws IOException {
        if (shared) {
            return null;
        }
        PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class);
        Set<PosixFilePermission> p = a.permissions();
        Set<PosixFilePermission> open = EnumSet.of(PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE,
                PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE,
                PosixFilePermission.OTHERS_EXECUTE);
        open.retainAll(p);
        if (open.isEmpty()) {
            return null;
        }
        int mode = (Integer) Files.getAttribute(dir, "unix:mode");
        int uid = (Integer) Files.getAttribute(dir, "unix:uid");
        if ((mode & 01000) != 0) {
            return "left " + dir + " as it is (sticky: a shared directory); its images are 0600";
        }
        if (uid != currentUid()) {
            return "left " + dir + " as it is (owned by uid " + uid + "); its images are 0600";
        }
        Set<PosixFilePermission> tightened = EnumSet.copyOf(p);
        tightened.removeAll(open);
        Files.setPosixFilePermissions(dir, tightened);
        return String.format("images dir %s made %s (was %s): images hold the process's memory", dir,
                PosixFilePermissions.toString(tightened), PosixFilePermissions.toString(p));
    }

    private static int currentUid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Integer.parseInt(line.split("\\s+")[2]); // effective uid
                }
            }
        } catch (IOException | RuntimeException e) {
            // unknown: treated as someone else's
        }
        return -1;
    }
}
