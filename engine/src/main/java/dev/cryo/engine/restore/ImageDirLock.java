package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.sys.DirectFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One restore per images directory at a time: a second restore of the same images, run while the first builds
 * its process, fails at once naming the first instead of racing it for the same pids. An flock on the
 * directory itself, so nothing is left behind by a restore that is killed.
 */
final class ImageDirLock implements AutoCloseable {
    private final int fd;

    private ImageDirLock(int fd) {
        this.fd = fd;
    }

    static ImageDirLock take(Path dir) throws CryoException {
        if (!Files.isDirectory(dir)) {
            return new ImageDirLock(-1); // the restore names what is wrong with it
        }
        int fd;
        try {
            fd = DirectFiles.tryLockDir(dir.toString());
        } catch (IOException e) {
            throw new CryoException("cannot restore from " + dir + ": cannot open it to lock it: " + e.getMessage());
        }
        if (fd < 0) {
            throw new CryoException("cannot restore from " + dir + ": another restore of these images is running"
                    + holder(dir) + "; wait for it to finish (one restore per images directory at a time)");
        }
        return new ImageDirLock(fd);
    }

    /** " (pid N, COMM)" of the process holding the flock, found in /proc/locks by the directory's inode. */
    static String holder(Path dir) {
        try {
            long inode = (Long) Files.getAttribute(dir, "unix:ino");
            for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
                // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
                String[] f = line.trim().split("\\s+");
                if (f.length >= 6 && f[1].equals("FLOCK") && f[5].endsWith(":" + inode)) {
                    String pid = f[4];
                    String comm = Files.readString(Path.of("/proc", pid, "comm")).strip();
                    return " (pid " + pid + ", " + comm + ")";
                }
            }
        } catch (IOException | RuntimeException e) {
            // the refusal stands without the holder's name
        }
        return "";
    }

    @Override
    public void close() {
        if (fd >= 0) {
            DirectFiles.unlock(fd);
        }
    }
}
