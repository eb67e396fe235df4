package dev.cryo.engine.dump;

import dev.cryo.engine.sys.DirectFiles;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Room held in the images directory, before a dump kills its tree, for the images it writes after the kill (the
 * cores, built and written once the tree is gone so that the frozen window does not pay for them: 17 ms of a
 * 65-thread process's): a file of that many bytes, allocated with fallocate (or zeros, where a file system has
 * none), deleted right before those images are written. A directory that has not the room fails the dump while the
 * tree can still run on, instead of after the kill, when the images would be all there is of it.
 */
final class SpaceReserve implements AutoCloseable {
    static final String NAME = ".cryo-space-reserve";

    /**
     * At most what a thread's core takes, pending signals aside (measured: 1.1 to 2.4 KB, a block each);
     * {@code -Dcryo.dump.coreBytes=N} sets it (for tests of a directory without the room).
     */
    static long coreBytes() {
        return Long.getLong("cryo.dump.coreBytes", 8 << 10);
    }

    /** At most a pending signal's part of its thread's core (a 128-byte siginfo and its framing). */
    static final long PENDING_BYTES = 192;
    /** For what else comes after the kill: seccomp filters, a task's larger leader core. */
    static final long SLACK = 64 << 10;

    private final String path;
    private int fd;

    private SpaceReserve(String path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /** Holds {@code bytes} in {@code dir}; IOException when the room is not there. */
    static SpaceReserve take(Path dir, long bytes) throws IOException {
        String path = dir.resolve(NAME).toString();
        SpaceReserve r = new SpaceReserve(path, DirectFiles.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        try {
            int errno = DirectFiles.fallocate(r.fd, bytes);
            if (errno == EOPNOTSUPP || errno == ENOSYS) {
                errno = r.zeros(bytes);
            }
            if (errno != 0) {
                String full = DirectFiles.noRoom(errno);
                throw new IOException(path + ": " + (full != null ? full : "errno " + errno) + " (" + bytes
                        + " bytes held for the cores, written after the kill)");
            }
        } catch (IOException | RuntimeException e) {
            r.close();
            throw e;
        }
        return r;
    }

    /** The file filled with {@code bytes} zeros: 0, or the errno of the write that failed. */
    private int zeros(long bytes) {
        NativeBuffer zero = NativeBuffer.allocate(64 << 10);
        for (long at = 0; at < bytes; ) {
            long n = Syscall.raw(Syscall.PWRITE64, fd, zero.address(), Math.min(bytes - at, zero.capacity()), at);
            if (n == -EINTR) {
                continue;
            }
            if (n <= 0) {
                return n == 0 ? ENOSPC : (int) -n;
            }
            at += n;
        }
        return 0;
    }

    /** Gives the room back (the file gone), for the images about to take it. */
    @Override
    public void close() {
        if (fd >= 0) {
            Syscall.raw(Syscall.CLOSE, fd);
            fd = -1;
            try {
                java.nio.file.Files.deleteIfExists(Path.of(path));
            } catch (IOException e) {
                // the directory went away meanwhile: nothing left to give back
            }
        }
    }

    static final int O_WRONLY = 1, O_CREAT = 0100, O_TRUNC = 01000, O_CLOEXEC = 02000000, EINTR = 4, ENOSPC = 28,
            ENOSYS = 38, EOPNOTSUPP = 95;
}
