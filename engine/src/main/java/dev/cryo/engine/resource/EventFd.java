package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.eventfd_file_entry;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;

/**
 * eventfd: a 64-bit counter. Dump reads the count and EFD_SEMAPHORE from fdinfo; restore makes eventfd2() in the
 * new task and writes the count into it (eventfd2's initial value is only 32 bits wide). Kernels whose fdinfo has no
 * {@code eventfd-semaphore} line (6.1) are asked by a read ({@link #probeSemaphore}).
 * <p>
 * An eventfd is always O_RDWR, so bit 0 of {@code eventfd_file_entry.flags} (O_WRONLY, meaningless here) carries
 * EFD_SEMAPHORE, which has the same value; CRIU images without it restore as plain counters.
 */
public final class EventFd implements FdKind {
    static final int EVENTFD2 = 290, EFD_SEMAPHORE = 1;

    @Override
    public fd_types type() {
        return fd_types.EVENTFD;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.target().equals("anon_inode:[eventfd]");
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        long count = Long.parseUnsignedLong(EventObjects.required(ctx, fd, "eventfd-count"), 16);
        String mode = fd.extra().get("eventfd-semaphore");
        boolean semaphore = "1".equals(mode);
        if (mode == null) { // older kernels (6.1) do not show it: asked of the counter itself
            try {
                semaphore = probeSemaphore(ctx.pid(), fd.fd(), count);
                ctx.log().debug("pid %d: fd %d (eventfd): this kernel's fdinfo does not show EFD_SEMAPHORE; a read "
                        + "on Cryo's copy says it counts %s (count %d kept)", ctx.pid(), fd.fd(),
                        semaphore ? "as a semaphore" : "in the normal mode", count);
            } catch (SyscallException x) {
                ctx.log().warn("pid %d: fd %d (eventfd): this kernel's fdinfo does not say whether it counts as a "
                        + "semaphore (EFD_SEMAPHORE), and a read on Cryo's copy could not tell (%s); it comes back "
                        + "counting in the normal mode", ctx.pid(), fd.fd(), x.getMessage());
            }
        }
        int flags = EventObjects.fileFlags(fd) | (semaphore ? EFD_SEMAPHORE : 0);
        var e = eventfd_file_entry.newBuilder().setId(id).setFlags(flags).setFown(RegularFile.noOwner()).setCounter(count);
        return file_entry.newBuilder().setType(fd_types.EVENTFD).setId(id).setEfd(e).build();
    }

    static final int PREADV2 = 327, RWF_NOWAIT = 8;

    /**
     * Whether eventfd {@code fd} of the frozen task {@code pid}, at {@code count}, counts as a semaphore, asked of the
     * counter itself through Cryo's copy of it ({@code pidfd_getfd}), for kernels whose fdinfo does not say: with the
     * count at 2 or more, a read takes 1 from a semaphore and everything from a normal counter. The count is raised
     * to 2 first when lower, and put back to {@code count} afterwards. The read never waits ({@code RWF_NOWAIT}: a
     * holder outside the frozen tree that emptied it meanwhile makes it fail, not hang). The task being frozen, only
     * an epoll set watching the eventfd edge-triggered sees it: one more wake-up after it runs again.
     */
    static boolean probeSemaphore(int pid, int fd, long count) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(24);
        int ours = FdPassing.copyOf(pid, fd);
        try {
            long at = count;
            if (at < 2) {
                add(ours, b, 2 - at);
                at = 2;
            }
            b.putLong(8, b.address()); // iovec: 8 bytes at the buffer's start
            b.putLong(16, 8);
            long n = Syscall.raw(PREADV2, ours, b.address() + 8, 1, -1, -1, RWF_NOWAIT);
            if (n == -95 /* EOPNOTSUPP: a kernel without NOWAIT reads of eventfds */) {
                n = Syscall.raw(Syscall.READ, ours, b.address(), 8);
            }
            if (n != 8) {
                if (at != count) {
                    Syscall.raw(Syscall.READ, ours, b.address(), 8); // best effort: what Cryo added goes again
                }
                throw new SyscallException("read(eventfd, RWF_NOWAIT)", n < 0 ? (int) -n : 5 /* EIO: a short read */);
            }
            long took = b.getLong(0);
            boolean semaphore = took == 1;
            long left = at - took;
            if (left < count) {
                add(ours, b, count - left);
            }
            for (; left > count; left--) { // a semaphore raised from 0: one more read of 1
                Syscall.call("read(eventfd)", Syscall.READ, ours, b.address(), 8);
            }
            return semaphore;
        } finally {
            Syscall.raw(Syscall.CLOSE, ours);
        }
    }

    private static void add(int fd, NativeBuffer b, long value) throws SyscallException {
        b.putLong(0, value);
        Syscall.call("write(eventfd)", Syscall.WRITE, fd, b.address(), 8);
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        eventfd_file_entry e = file.getEfd();
        int flags = (e.getFlags() & EventObjects.O_NONBLOCK) | (e.getFlags() & EFD_SEMAPHORE);
        try {
            int got = (int) ctx.syscall().call("eventfd2", EVENTFD2, 0, flags);
            if (e.getCounter() != 0) {
                long at = EventObjects.put(ctx, 0, EventObjects.le(8).putLong(e.getCounter()));
                ctx.syscall().call("write(eventfd)", dev.cryo.engine.sys.Syscall.WRITE, got, at, 8);
            }
            return got;
        } catch (SyscallException x) {
            throw EventObjects.restoreFailed(ctx, fd.getFd(), "eventfd, count " + Long.toUnsignedString(e.getCounter()), x);
        }
    }
}
