package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

/**
 * Another process's memory, read and written with process_vm_readv/writev in iovec batches.
 * Pages behind PROT_NONE are out of its reach (use /proc/PID/mem for those).
 */
public final class RemoteMemory {
    static final int IOV_MAX = 1024;

    /** Per thread: the iovec arrays, and a small buffer for read/write (made once, not in every frozen window). */
    private static final ThreadLocal<NativeBuffer[]> BUFFERS = ThreadLocal.withInitial(
            () -> new NativeBuffer[]{NativeBuffer.allocate(16 * (IOV_MAX + 1)), NativeBuffer.allocate(4096)});

    private final int pid;

    public RemoteMemory(int pid) {
        this.pid = pid;
    }

    public int pid() {
        return pid;
    }

    /** Makes this thread's buffers now (before a freeze), so that the first transfer does not. */
    public static void prepareThread() {
        BUFFERS.get();
    }

    public byte[] read(long address, int length) throws SyscallException {
        NativeBuffer local = small(length);
        transfer(false, local.address(), new long[]{address}, new long[]{length}, 1);
        return local.bytes(0, length);
    }

    public void write(long address, byte[] bytes) throws SyscallException {
        NativeBuffer local = small(bytes.length);
        local.put(0, bytes);
        transfer(true, local.address(), new long[]{address}, new long[]{bytes.length}, 1);
    }

    private static NativeBuffer small(int length) {
        return length <= 4096 ? BUFFERS.get()[1] : NativeBuffer.allocate(length);
    }

    /**
     * Moves {@code count} remote ranges to or from one contiguous local buffer at {@code localAddress},
     * the ranges laid end to end in it.
     */
    public void transfer(boolean toRemote, long localAddress, long[] remoteAddrs, long[] lengths, int count)
            throws SyscallException {
        NativeBuffer iovs = BUFFERS.get()[0];
        long localCursor = localAddress;
        int done = 0;
        while (done < count) {
            int batch = Math.min(IOV_MAX, count - done);
            long total = 0;
            for (int i = 0; i < batch; i++) {
                iovs.putLong(16 * i, remoteAddrs[done + i]);
                iovs.putLong(16 * i + 8, lengths[done + i]);
                total += lengths[done + i];
            }
            // one local iovec covering the whole batch
            iovs.putLong(16 * IOV_MAX, localCursor);
            iovs.putLong(16 * IOV_MAX + 8, total);
            long n = Syscall.raw(toRemote ? Syscall.PROCESS_VM_WRITEV : Syscall.PROCESS_VM_READV,
                    pid, iovs.address() + 16L * IOV_MAX, 1, iovs.address(), batch, 0);
            if (n < 0) { // named only on failure: this runs while the target is frozen
                throw new SyscallException((toRemote ? "process_vm_writev(" : "process_vm_readv(") + pid + ")", (int) -n);
            }
            if (n != total) {
                // partial transfer: the kernel stops at the first range it cannot reach
                throw new SyscallException((toRemote ? "process_vm_writev" : "process_vm_readv")
                        + "(" + pid + ") moved " + n + " of " + total + " bytes", 14);
            }
            localCursor += total;
            done += batch;
        }
    }
}
