package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.aio_ring_entry;
import dev.cryo.image.proto.vma_entry;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Kernel AIO contexts (io_setup; libaio, and through it InnoDB, QEMU, fio...). A context is a ring the kernel maps
 * into the process, {@code [aio]}, whose address is the context's id.
 * <p>
 * Dump, as CRIU: the ring's VMA ({@code VMA_AREA_AIORING}) and its pages, which hold its header (head and tail) and
 * the completed events the program has not reaped yet, and an {@code aio_ring_entry} in {@code mm-PID.img}: the id,
 * the ring's length, and a request count for io_setup that makes a ring of that length.
 * <p>
 * Restore: the VMA is first an anonymous placeholder that the saved pages fill. Then, in the task, io_setup makes a
 * new context; requests that complete at once (reads of nothing from {@code /dev/null}), reaped and then not, bring
 * the kernel's own head and tail to the saved ones; the saved unreaped events are written into their slots; and
 * mremap moves the ring onto the placeholder, which makes its address the context's id again. Requests still in
 * flight at the dump are not in the ring and are not restored (nor are they by CRIU).
 */
public final class AioRings {
    public static final int VMA_AREA_AIORING = 1 << 13;
    static final int IO_SETUP = 206, IO_GETEVENTS = 208, IO_SUBMIT = 209;
    static final int HEADER = 32, EVENT = 32, IOCB = 64, BATCH = 32;
    /** Where things go in the scratch memory: the iocbs, their pointers, the reaped events, a path, the context. */
    static final int POINTERS_AT = BATCH * IOCB, EVENTS_AT = POINTERS_AT + BATCH * 8, PATH_AT = EVENTS_AT + BATCH * EVENT,
            CTX_AT = PATH_AT + 16;
    static final int MAGIC = 0xa10a10a1;
    static final int IOCB_CMD_PREAD = 0, MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2;

    private AioRings() {
    }

    public static boolean isAioRing(vma_entry v) {
        return (v.getStatus() & VMA_AREA_AIORING) != 0;
    }

    /** The events a ring of {@code length} bytes holds, as the kernel sizes it. */
    static int events(long length) {
        return (int) ((length - HEADER) / EVENT);
    }

    /**
     * The image's entry for the ring at {@code start} of {@code length} bytes. The kernel makes a ring for
     * {@code 2 * max(n, 4 * cpus) + 2} events, rounded up to pages; asking for half the events the ring holds, less
     * one, gives back a ring of the same length (the kernel's limit on requests is then at least the program's).
     */
    public static aio_ring_entry entry(long start, long length) {
        return aio_ring_entry.newBuilder().setId(start).setNrReq((events(length) - 2) / 2).setRingLen((int) length)
                .build();
    }

    /**
     * Makes the context of {@code ring} in the task and moves it onto the placeholder at its address, which holds
     * the saved ring ({@code pagesSaved}; else the ring is taken as empty). {@code scratch} lends the iocbs and the events; {@code memory} reads the saved ring and writes
     * the events.
     */
    public static void restore(RemoteSyscall remote, RemoteScratch scratch, RemoteMemory memory, aio_ring_entry ring,
                               boolean pagesSaved, int pid, Log log) throws SyscallException, CryoException {
        long at = ring.getId();
        int length = ring.getRingLen();
        String where = "cannot restore pid " + pid + ": its AIO context at 0x" + Long.toHexString(at);
        ByteBuffer saved = ByteBuffer.wrap(memory.read(at, length)).order(ByteOrder.LITTLE_ENDIAN);
        if (!pagesSaved) { // images without the ring's pages: an empty ring
            saved.putInt(4, events(length)).putInt(8, 0).putInt(12, 0).putInt(16, MAGIC);
        }
        int nr = saved.getInt(4), head = saved.getInt(8), tail = saved.getInt(12);
        if (saved.getInt(16) != MAGIC || nr != events(length) || Integer.compareUnsigned(head, nr) >= 0
                || Integer.compareUnsigned(tail, nr) >= 0) {
            throw new CryoException(where + ": the saved ring is not a ring of " + events(length) + " events (nr "
                    + nr + ", head " + head + ", tail " + tail + ", magic 0x" + Integer.toHexString(saved.getInt(16))
                    + ")");
        }
        scratch.write(CTX_AT, new byte[8]);
        remote.call("io_setup(" + ring.getNrReq() + ")", IO_SETUP, ring.getNrReq(), scratch.address() + CTX_AT);
        long made = ByteBuffer.wrap(scratch.read(CTX_AT, 8)).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        boolean moved = false;
        try {
            int nrNow = ByteBuffer.wrap(memory.read(made + 4, 4)).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
            if (nrNow != nr) {
                throw new CryoException(where + ": io_setup(" + ring.getNrReq() + ") made a ring of " + nrNow
                        + " events, not " + nr + " (the kernel sizes rings by the number of CPUs: this machine "
                        + "has more than the one of the dump)");
            }
            int unreaped = Math.floorMod(tail - head, nr);
            if (head != 0 || unreaped != 0) {
                completeNothing(remote, scratch, made, head, unreaped, where);
                for (int i = 0; i < unreaped; i++) {
                    int slot = (head + i) % nr;
                    byte[] ev = new byte[EVENT];
                    saved.get(HEADER + slot * EVENT, ev);
                    memory.write(made + HEADER + (long) slot * EVENT, ev);
                }
            }
            remote.call("mremap aio ring to 0x" + Long.toHexString(at), Syscall.MREMAP, made, length, length,
                    MREMAP_MAYMOVE | MREMAP_FIXED, at);
            moved = true;
            log.debug("pid %d: AIO context 0x%x restored (%d events, head %d, %d unreaped)", pid, at, nr, head,
                    unreaped);
        } finally {
            if (!moved) {
                remote.raw(Syscall.MUNMAP, made, length); // the context goes with its ring
            }
        }
    }

    /**
     * Brings the new context's head to {@code head} and its tail {@code unreaped} events further, with reads of
     * nothing from /dev/null, which complete within io_submit: {@code head} of them submitted and reaped in
     * batches, then {@code unreaped} submitted and left in the ring.
     */
    private static void completeNothing(RemoteSyscall remote, RemoteScratch scratch, long ctx, int head, int unreaped,
                                        String where) throws SyscallException, CryoException {
        long base = scratch.address();
        scratch.write(PATH_AT, "/dev/null\0".getBytes());
        int fd = (int) remote.call("open /dev/null", Syscall.OPENAT, -100, base + PATH_AT, 0, 0);
        try {
            ByteBuffer b = ByteBuffer.allocate(EVENTS_AT).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < BATCH; i++) {
                int o = i * IOCB;
                b.putShort(o + 16, (short) IOCB_CMD_PREAD).putInt(o + 20, fd).putLong(o + 24, base + EVENTS_AT)
                        .putLong(o + 32, 0);
                b.putLong(POINTERS_AT + i * 8, base + o);
            }
            scratch.write(0, b.array());
            for (int left = head; left > 0; ) {
                int k = Math.min(left, BATCH);
                submit(remote, ctx, k, base + POINTERS_AT, where);
                long got = remote.call("io_getevents", IO_GETEVENTS, ctx, k, k, base + EVENTS_AT, 0);
                if (got != k) {
                    throw new CryoException(where + ": io_getevents reaped " + got + " of " + k + " events");
                }
                left -= k;
            }
            for (int left = unreaped; left > 0; ) {
                int k = Math.min(left, BATCH);
                submit(remote, ctx, k, base + POINTERS_AT, where);
                left -= k;
            }
        } finally {
            remote.raw(Syscall.CLOSE, fd);
        }
    }

    private static void submit(RemoteSyscall remote, long ctx, int k, long pointers, String where)
            throws SyscallException, CryoException {
        long done = remote.call("io_submit", IO_SUBMIT, ctx, k, pointers);
        if (done != k) {
            throw new CryoException(where + ": io_submit took " + done + " of " + k + " requests");
        }
    }
}
