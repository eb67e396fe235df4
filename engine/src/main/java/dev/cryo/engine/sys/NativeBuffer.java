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
        this.address = MemoryIO.getInstance().getDirectBufferAddress(buffer);
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

    public void clear() {
        for (int i = 0; i < buffer.capacity(); i += 8) {
            if (i + 8 <= buffer.capacity()) {
                buffer.putLong(i, 0);
            } else {
                for (int j = i; j < buffer.capacity(); j++) {
                    buffer.put(j, (byte) 0);
                }
            }
        }
    }
}
