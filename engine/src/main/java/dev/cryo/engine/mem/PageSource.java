package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Where a restore's pages come from, laid end to end from offset 0: a pages image, read in small pieces into a
 * buffer each copying thread reuses (it stays in that core's cache, so the second copy, into the process, reads
 * from cache), or memory Cryo already holds (an incremental chain's pages, gathered from several images).
 */
public sealed interface PageSource extends AutoCloseable {
    /** Bytes read or copied at a time per thread; a staging buffer holds this many. */
    int STAGE = Integer.getInteger("cryo.restore.stage", 1 << 20);

    /**
     * The address in Cryo of the {@code length} bytes at {@code offset}: in place, or read into {@code staging}
     * (made by {@link #staging()}) when {@code length <= STAGE}.
     */
    long bytesAt(long offset, long length, NativeBuffer staging) throws IOException;

    /** A staging buffer: {@link #STAGE} bytes from a page boundary (an unaligned buffer slows both copies). */
    static NativeBuffer staging() {
        return NativeBuffer.allocate(STAGE + 4096);
    }

    private static long aligned(NativeBuffer staging) {
        return (staging.address() + 4095) & ~4095L;
    }

    /** Whether the bytes are in Cryo's memory already (no staging, any length at a time). */
    boolean inPlace();

    @Override
    void close();

    static PageSource inMemory(long address) {
        return new InMemory(address);
    }

    /** A pages image, opened now: a missing or unreadable file fails here, before any process is made. */
    static PageSource file(Path file) throws IOException {
        return PagesFile.open(file);
    }

    record InMemory(long address) implements PageSource {
        @Override
        public long bytesAt(long offset, long length, NativeBuffer staging) {
            return address + offset;
        }

        @Override
        public boolean inPlace() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    /** A pages image read with pread: several threads may read it at once, each into its own buffer. */
    final class PagesFile implements PageSource {
        static final int O_RDONLY = 0, O_CLOEXEC = 0x80000, AT_FDCWD = -100;

        private final Path file;
        private int fd;

        private PagesFile(Path file, int fd) {
            this.file = file;
            this.fd = fd;
        }

        static PagesFile open(Path file) throws IOException {
            byte[] name = file.toString().getBytes(StandardCharsets.UTF_8);
            NativeBuffer path = NativeBuffer.allocate(name.length + 1);
            path.put(0, name);
            path.buffer().put(name.length, (byte) 0);
            try {
                return new PagesFile(file, (int) Syscall.call("open " + file.getFileName(), Syscall.OPENAT, AT_FDCWD,
                        path.address(), O_RDONLY | O_CLOEXEC));
            } catch (SyscallException e) {
                throw new IOException(e.getMessage(), e);
            }
        }

        @Override
        public long bytesAt(long offset, long length, NativeBuffer staging) throws IOException {
            long to = aligned(staging), done = 0;
            while (done < length) {
                long n = Syscall.raw(Syscall.PREAD64, fd, to + done, length - done, offset + done);
                if (n == 0) {
                    throw new IOException(file.getFileName() + " ends at byte " + (offset + done)
                            + ", before its pagemap says (it needs " + (offset + length) + " at least)");
                }
                if (n < 0) {
                    if (n == -4) { // EINTR
                        continue;
                    }
                    throw new IOException(new SyscallException("pread " + file.getFileName() + " at " + (offset + done),
                            (int) -n).getMessage());
                }
                done += n;
            }
            return to;
        }

        @Override
        public boolean inPlace() {
            return false;
        }

        @Override
        public synchronized void close() {
            if (fd >= 0) {
                Syscall.raw(Syscall.CLOSE, fd);
                fd = -1;
            }
        }
    }
}
