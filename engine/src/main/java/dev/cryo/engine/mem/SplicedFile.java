package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A pages image written through pipes: a buffer's pages are handed to a pipe (vmsplice, no copy) and spliced into the
 * file at a given offset, so that the copy into the page cache is made by the kernel from its own mapping of those
 * pages, as CRIU's parasite does it, instead of from Cryo's address space as write() makes it. Several threads may
 * write at once, each through its own {@link Pipe}, at their own offsets.
 */
final class SplicedFile implements AutoCloseable {
    private static final int O_WRONLY = 01, O_CLOEXEC = 02000000, F_SETPIPE_SZ = 1031, SPLICE_F_MOVE = 1, EINTR = 4;

    private final int fd;

    private SplicedFile(int fd) {
        this.fd = fd;
    }

    /** {@code file}, which exists (created empty with the image's mode), opened for writing. */
    static SplicedFile open(Path file) throws IOException {
        return new SplicedFile(dev.cryo.engine.sys.DirectFiles.open(file.toString(), O_WRONLY | O_CLOEXEC, 0));
    }

    /** A pipe of one thread's own, as large as a chunk (or as the system allows). */
    Pipe pipe() throws IOException {
        NativeBuffer fds = NativeBuffer.allocate(8);
        long r = Syscall.raw(Syscall.PIPE2, fds.address(), O_CLOEXEC);
        if (r < 0) {
            throw new IOException("pipe2: " + SyscallException.describe((int) -r));
        }
        Pipe p = new Pipe(fds.getInt(0), fds.getInt(4));
        Syscall.raw(Syscall.FCNTL, p.write, F_SETPIPE_SZ, PagePipe.CHUNK); // smaller is fine: writes loop
        return p;
    }

    @Override
    public void close() {
        Syscall.raw(Syscall.CLOSE, fd);
    }

    final class Pipe implements AutoCloseable {
        private final int read, write;
        private final NativeBuffer iov = NativeBuffer.allocate(16), offset = NativeBuffer.allocate(8);

        private Pipe(int read, int write) {
            this.read = read;
            this.write = write;
        }

        /**
         * The {@code bytes} at {@code address} into the file at {@code fileOffset}; once it returns the pipe is
         * empty, so the buffer may be refilled (its pages were copied into the file, not lent to it).
         */
        void write(long address, int bytes, long fileOffset) throws IOException {
            long done = 0;
            offset.putLong(0, fileOffset);
            while (done < bytes) {
                iov.putLong(0, address + done);
                iov.putLong(8, Math.min(bytes - done, PagePipe.WRITE_PIECE)); // a splice writes what the pipe holds
                long lent = Syscall.raw(Syscall.VMSPLICE, write, iov.address(), 1, 0);
                if (lent == -EINTR) {
                    continue;
                }
                if (lent <= 0) {
                    throw new IOException("vmsplice: " + SyscallException.describe((int) -lent));
                }
                long left = lent;
                while (left > 0) {
                    long n = Syscall.raw(Syscall.SPLICE, read, 0, fd, offset.address(), left, SPLICE_F_MOVE);
                    if (n == -EINTR) {
                        continue;
                    }
                    if (n < 0) {
                        // as a write() would say it: "No space left on device"
                        throw new IOException(SyscallException.describe((int) -n).replaceFirst("^E[A-Z]+ \\((.*)\\)$", "$1"));
                    }
                    if (n == 0) {
                        throw new IOException("splice moved nothing at byte " + offset.getLong(0));
                    }
                    left -= n;
                }
                done += lent;
            }
        }

        @Override
        public void close() {
            Syscall.raw(Syscall.CLOSE, read);
            Syscall.raw(Syscall.CLOSE, write);
        }
    }
}
