package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.memfd_file_entry;

/**
 * A memfd held as an fd ({@code /memfd:NAME (deleted)}). The object itself (contents, size, owner, seals) is
 * {@link SharedMemory}'s, saved once whether it is open, mapped or both: a memfd that the task maps and holds
 * open comes back as one object, so writes through the fd show in the mapping. This class adds what belongs
 * to the open file description: its access mode, flags and offset (a MEMFD entry of files.img, as CRIU writes it).
 */
public final class Memfd implements FdKind {
    @Override
    public fd_types type() {
        return fd_types.MEMFD;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.target().startsWith("/memfd:");
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        // no look for the dump's shared memory here: the checks run before the tasks other than the root have
        // their TaskDump, which registers it (a memfd a child inherited was refused as "an engine bug")
        FileLocks.check(ctx, fd);
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        if (SharedMemory.Dump.of(ctx) == null) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the memfd "
                    + fd.target() + ", but this dump collects no shared memory (an engine bug)");
        }
        ctx.locks().collect(ctx, fd);
        String open = ctx.proc().dir(ctx.pid()) + "/fd/" + fd.fd();
        return SharedMemory.Dump.of(ctx).memfdFile(ctx.pid(), fd.ino(), fd.target(), open, 0, 0, id,
                fd.flags() & ~RegularFile.O_CLOEXEC, fd.pos());
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        memfd_file_entry m = file.getMemfd();
        SharedMemory.Restore objects = SharedMemory.Restore.of(ctx);
        if (objects == null) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd.getFd()
                    + " is a memfd, but this restore makes no shared memory (an engine bug)");
        }
        try {
            int got = objects.openMemfd(ctx.syscall(), file, m.getFlags() & ~(RegularFile.O_CREAT | RegularFile.O_EXCL
                    | RegularFile.O_TRUNC | RegularFile.O_CLOEXEC));
            if (m.getPos() != 0) {
                ctx.syscall().call("lseek(memfd)", Syscall.LSEEK, got, m.getPos(), 0);
            }
            return got;
        } catch (SyscallException e) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " (memfd, "
                    + file.getMemfd().getInodeId() + "): " + e.getMessage(), e);
        }
    }
}
