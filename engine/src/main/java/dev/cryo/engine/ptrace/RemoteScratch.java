package dev.cryo.engine.ptrace;

import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

/**
 * A small area of tracee memory for the structs and strings remote syscalls need. On a live target it borrows
 * the stack below the red zone and puts the bytes back afterwards (no mmap, no trace left); failing that, it
 * maps a page and unmaps it on {@link #release}.
 */
public final class RemoteScratch {
    private final RemoteMemory memory;
    private final long address;
    private final int size;
    private final byte[] saved;
    private final RemoteSyscall syscall;

    private RemoteScratch(RemoteMemory memory, long address, int size, byte[] saved, RemoteSyscall syscall) {
        this.memory = memory;
        this.address = address;
        this.size = size;
        this.saved = saved;
        this.syscall = syscall;
    }

    public static RemoteScratch borrowStack(RemoteMemory memory, Registers regs, RemoteSyscall syscall, int size)
            throws SyscallException {
        long addr = stackAddress(regs, size);
        try {
            byte[] saved = memory.read(addr, size);
            memory.write(addr, saved);
            return new RemoteScratch(memory, addr, size, saved, null);
        } catch (SyscallException e) {
            return map(memory, syscall, 0, size);
        }
    }

    /** Where {@link #borrowStack} puts {@code size} bytes: below the red zone, with room to spare. */
    public static long stackAddress(Registers regs, int size) {
        return (regs.get(Registers.RSP) - 256 - size) & ~63L;
    }

    /** Maps {@code size} bytes (rounded up to pages) at {@code hint} (0 = anywhere, else exactly there). */
    public static RemoteScratch map(RemoteMemory memory, RemoteSyscall syscall, long hint, int size) throws SyscallException {
        int len = (size + 4095) & ~4095;
        int flags = 0x02 | 0x20 | (hint != 0 ? 0x100000 /* MAP_FIXED_NOREPLACE */ : 0);
        long addr = syscall.call("mmap", Syscall.MMAP, hint, len, 3, flags, -1, 0);
        return new RemoteScratch(memory, addr, len, null, syscall);
    }

    public long address() {
        return address;
    }

    public int size() {
        return size;
    }

    public boolean mapped() {
        return saved == null;
    }

    public void write(int offset, byte[] bytes) throws SyscallException {
        if (offset + bytes.length > size) {
            throw new IllegalArgumentException("scratch overflow");
        }
        memory.write(address + offset, bytes);
    }

    public byte[] read(int offset, int length) throws SyscallException {
        return memory.read(address + offset, length);
    }

    /** Writes a NUL-terminated string and returns its remote address. */
    public long string(int offset, String s) throws SyscallException {
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] z = java.util.Arrays.copyOf(b, b.length + 1);
        write(offset, z);
        return address + offset;
    }

    /** Puts borrowed bytes back, or unmaps the page. */
    public void release() throws SyscallException {
        if (saved != null) {
            memory.write(address, saved);
        } else {
            syscall.call("munmap", Syscall.MUNMAP, address, size);
        }
    }
}
