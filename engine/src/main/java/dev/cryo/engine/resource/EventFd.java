package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.eventfd_file_entry;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;

/**
 * eventfd: a 64-bit counter. Dump reads the count and EFD_SEMAPHORE from fdinfo; restore makes eventfd2() in the
 * new task and writes the count into it (eventfd2's initial value is only 32 bits wide).
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
        if (mode == null) { // older kernels (6.1) do not show it, and nothing else does without changing the counter
            ctx.log().warn("pid %d: fd %d (eventfd): this kernel's fdinfo does not say whether it counts as a semaphore "
                    + "(EFD_SEMAPHORE); it comes back counting in the normal mode", ctx.pid(), fd.fd());
        }
        int flags = EventObjects.fileFlags(fd) | (semaphore ? EFD_SEMAPHORE : 0);
        var e = eventfd_file_entry.newBuilder().setId(id).setFlags(flags).setFown(RegularFile.noOwner()).setCounter(count);
        return file_entry.newBuilder().setType(fd_types.EVENTFD).setId(id).setEfd(e).build();
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
