package dev.cryo.engine.sys;

import com.kenai.jffi.MemoryIO;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Native memory the engine hands to syscalls: a direct buffer in the CPU's byte order and its address.
 * The address is valid while this object is reachable.
 */
public final class NativeBuffer {
    private final ByteBuffer buffer;
    private final long address;

    private NativeBuffer(ByteBuffer buffer) {
        this.buffer = buffer.order(ByteOrder.nativeOrder());
        this.address = com.kenai.jffi.MemoryIO.getInstance().getDirectBufferAddress(buffer);
    }

    /** A direct buffer made elsewhere (mapped memory), from its start to its capacity; it must outlive this. */
    public static NativeBuffer wrap(ByteBuffer direct) {
        if (!direct.isDirect()) {
            throw new IllegalArgumentException("not a direct buffer");
        }
        return new NativeBuffer(direct.duplicate().clear());
    }

    public static NativeBuffer allocate(int size) {
        return new NativeBuffer(ByteBuffer.allocateDirect(Math.max(size, 8)));
    }

    public ByteBuffer buffer() {
        return buffer;
    }

    public long address() {
        return address;
    }

    public int capacity() {
        return buffer.capacity();
    }

    public long getLong(int offset) {
        return buffer.getLong(offset);
    }

    public void putLong(int offset, long value) {
        buffer.putLong(offset, value);
    }

    public int getInt(int offset) {
        return buffer.getInt(offset);
    }

    public void putInt(int offset, int value) {
        buffer.putInt(offset, value);
    }

    public byte[] bytes(int offset, int length) {
        byte[] b = new byte[length];
        buffer.get(offset, b);
        return b;
    }

    public void put(int offset, byte[] bytes) {
        buffer.put(offset, bytes);
    }

    private static final byte[] ZEROS = new byte[4096];

    /** Zeroes the whole buffer, in bulk copies (a byte or long loop costs thousands of interpreted calls). */
    public void clear() {
        zero(0, buffer.capacity());
    }

    /** Zeroes {@code length} bytes from {@code offset}. */
    public void zero(int offset, int length) {
        for (int done = 0; done < length; done += ZEROS.length) {
            buffer.put(offset + done, ZEROS, 0, Math.min(ZEROS.length, length - done));
        }
    }
}
