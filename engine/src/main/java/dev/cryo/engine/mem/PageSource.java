package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

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

    /**
     * A staging buffer: {@link #STAGE} bytes from a page boundary (an unaligned buffer slows both copies). It is the
     * calling thread's own, reused by every copy that thread makes: a fresh one is zeroed and faulted in page by page
     * first, which costs a tree's restore, a megabyte a task, more than the copies themselves.
     */
    static NativeBuffer staging() {
        return Staging.OF_THREAD.get();
    }

    /** Holder of each thread's staging buffer (an interface's fields are public: this keeps it out of sight). */
    final class Staging {
        private static final ThreadLocal<NativeBuffer> OF_THREAD = ThreadLocal.withInitial(
                () -> NativeBuffer.allocate(STAGE + 4096));

        private Staging() {
        }
    }

    private static long aligned(NativeBuffer staging) {
        return (staging.address() + 4095) & ~4095L;
    }

    /** Whether the bytes are in Cryo's memory already (no staging, any length at a time). */
    boolean inPlace();

    /**
     * The address of byte 0 with every byte in place, mapping the file read-only if need be (once; unmapped by
     * {@link #close}), or 0 where it cannot be: for reading a few bytes of many pages, where a copy of each would
     * cost more than the read.
     */
    long mapped();

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
        public long mapped() {
            return address;
        }

        @Override
        public void close() {
        }
    }

    /**
     * A pages image read with positional reads (pread): several threads may read it at once, each into its own
     * buffer. A JDK channel, not a JNR call: opening it early does not wait for JNR's first binding.
     */
    final class PagesFile implements PageSource {
        private final Path file;
        private final FileChannel channel;

        private PagesFile(Path file, FileChannel channel) {
            this.file = file;
            this.channel = channel;
        }

        static PagesFile open(Path file) throws IOException {
            return new PagesFile(file, FileChannel.open(file, StandardOpenOption.READ));
        }

        @Override
        public long bytesAt(long offset, long length, NativeBuffer staging) throws IOException {
            long to = aligned(staging);
            int from = (int) (to - staging.address());
            ByteBuffer b = staging.buffer().duplicate().limit(from + (int) length).position(from);
            while (b.hasRemaining()) {
                long at = offset + (b.position() - from);
                if (channel.read(b, at) < 0) {
                    throw new IOException(file.getFileName() + " ends at byte " + at
                            + ", before its pagemap says (it needs " + (offset + length) + " at least)");
                }
            }
            return to;
        }

        @Override
        public boolean inPlace() {
            return false;
        }

        /** The file mapped read-only: 0 until asked, -1 once it could not be. */
        private long mapping;
        private long mappedBytes;

        @Override
        public synchronized long mapped() {
            if (mapping == 0) {
                mapping = -1;
                try {
                    long size = channel.size();
                    if (size > 0) {
                        int fd = dev.cryo.engine.sys.DirectFiles.open(file.toString(), 0x80000 /* O_CLOEXEC */, 0);
                        try {
                            long at = dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.MMAP, 0, size,
                                    1 /* PROT_READ */, 1 /* MAP_SHARED */, fd, 0);
                            if (at > 0 || at < -4095) {
                                mapping = at;
                                mappedBytes = size;
                            }
                        } finally {
                            dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.CLOSE, fd);
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    // not mapped: the caller copies instead
                }
            }
            return Math.max(mapping, 0);
        }

        @Override
        public synchronized void close() {
            if (mapping > 0) {
                dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.MUNMAP, mapping, mappedBytes);
                mapping = -1;
            }
            try {
                channel.close();
            } catch (IOException e) {
                // read-only: nothing is lost
            }
        }
    }
}
