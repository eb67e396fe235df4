package dev.cryo.engine.sys;

import java.nio.ByteBuffer;

/**
 * Anonymous memory mapped with its pages already in place (MAP_POPULATE), unmapped by {@link #close}. On this kind
 * of VM a page's first touch costs about 10 µs of fault handling, a whole populated mapping about 0.15 µs a page:
 * megabytes that the frozen window fills (a socket's queues) are taken this way.
 */
public final class PopulatedMemory implements AutoCloseable {
    static final int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_POPULATE = 0x8000;

    private final long address;
    private final long size;
    private boolean closed;

    private PopulatedMemory(long address, long size) {
        this.address = address;
        this.size = size;
    }

    /** {@code size} bytes, zero, populated; at least one page is mapped. */
    public static PopulatedMemory map(long size) throws SyscallException {
        long length = Math.max(4096, (size + 4095) & ~4095L);
        long a = Syscall.call("mmap(" + length + " bytes, MAP_POPULATE)", Syscall.MMAP, 0, length,
                PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        return new PopulatedMemory(a, size);
    }

    public long address() {
        return address;
    }

    /** The first {@code size} bytes as a direct buffer; valid until {@link #close}. */
    public ByteBuffer buffer() {
        if (size > Integer.MAX_VALUE) {
            throw new IllegalStateException(size + " bytes do not fit a ByteBuffer");
        }
        return com.kenai.jffi.MemoryIO.getInstance().newDirectByteBuffer(address, (int) size);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Syscall.raw(Syscall.MUNMAP, address, Math.max(4096, (size + 4095) & ~4095L));
        }
    }
}
