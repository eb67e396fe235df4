package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.signalfd_entry;

/**
 * signalfd: only its mask. The signals it reads are the task's pending signals, which the core image carries.
 */
public final class SignalFd implements FdKind {
    static final int SIGNALFD4 = 289;

    @Override
    public fd_types type() {
        return fd_types.SIGNALFD;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.target().equals("anon_inode:[signalfd]");
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        long mask = Long.parseUnsignedLong(EventObjects.required(ctx, fd, "sigmask"), 16);
        var e = signalfd_entry.newBuilder().setId(id).setFlags(EventObjects.fileFlags(fd))
                .setFown(RegularFile.noOwner()).setSigmask(mask);
        return file_entry.newBuilder().setType(fd_types.SIGNALFD).setId(id).setSgfd(e).build();
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        signalfd_entry e = file.getSgfd();
        try {
            long at = EventObjects.put(ctx, 0, EventObjects.le(8).putLong(e.getSigmask()));
            return (int) ctx.syscall().call("signalfd4", SIGNALFD4, -1, at, 8, e.getFlags() & EventObjects.O_NONBLOCK);
        } catch (SyscallException x) {
            throw EventObjects.restoreFailed(ctx, fd.getFd(), "signalfd, mask " + Long.toHexString(e.getSigmask()), x);
        }
    }
}
