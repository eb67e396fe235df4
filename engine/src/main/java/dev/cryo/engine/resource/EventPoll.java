package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.eventpoll_file_entry;
import dev.cryo.image.proto.eventpoll_tfd_entry;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;

import java.util.ArrayList;
import java.util.List;

/**
 * epoll: its registrations (target fd, events, data), read from the "tfd:" lines of fdinfo. A registration names
 * its target by the fd number it was added with; kcmp(KCMP_EPOLL_TFD) proves that this fd still holds the same
 * file, so a registration whose fd was closed (or reused) since is refused rather than restored on the wrong file.
 * Restore: epoll_create1() in place, and the epoll_ctl(ADD) calls once every fd of the task is at its number
 * (targets may come after the epoll, or be epolls themselves).
 */
public final class EventPoll implements FdKind {
    static final int EPOLL_CREATE1 = 291, EPOLL_CTL = 233, EPOLL_CTL_ADD = 1, KCMP_EPOLL_TFD = 7;

    @Override
    public fd_types type() {
        return fd_types.EVENTPOLL;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.target().equals("anon_inode:[eventpoll]");
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        targets(ctx, fd, 0);
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        var e = eventpoll_file_entry.newBuilder().setId(id).setFlags(EventObjects.fileFlags(fd))
                .setFown(RegularFile.noOwner()).addAllTfd(targets(ctx, fd, id));
        return file_entry.newBuilder().setType(fd_types.EVENTPOLL).setId(id).setEpfd(e).build();
    }

    /** The registrations, each checked to be still reachable through its fd number. */
    static List<eventpoll_tfd_entry> targets(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        List<eventpoll_tfd_entry> out = new ArrayList<>();
        for (String line : EventObjects.startingWith(EventObjects.fdinfoLines(ctx, fd), "tfd:")) {
            int tfd = Integer.parseInt(EventObjects.field(line, "tfd"));
            var t = eventpoll_tfd_entry.newBuilder().setId(id).setTfd(tfd)
                    .setEvents((int) Long.parseLong(EventObjects.field(line, "events"), 16))
                    .setData(Long.parseUnsignedLong(EventObjects.field(line, "data"), 16));
            String ino = EventObjects.field(line, "ino"), dev = EventObjects.field(line, "sdev"),
                    pos = EventObjects.field(line, "pos");
            if (ino != null) {
                t.setInode(Long.parseLong(ino, 16));
            }
            if (dev != null) {
                t.setDev((int) Long.parseLong(dev, 16));
            }
            if (pos != null) {
                t.setPos(Long.parseLong(pos));
            }
            if (!sameFile(ctx.pid(), fd.fd(), tfd)) {
                throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (epoll) watches fd "
                        + tfd + ", which the process has closed or reused since (the registration lives on "
                        + "through a dup); Cryo cannot restore such a registration");
            }
            out.add(t.build());
        }
        return out;
    }

    /** kcmp(KCMP_EPOLL_TFD): does fd {@code tfd} of the task hold the file registered as {@code tfd}? */
    private static boolean sameFile(int pid, int epfd, int tfd) {
        NativeBuffer slot = NativeBuffer.allocate(12);
        slot.putInt(0, epfd);
        slot.putInt(4, tfd);
        slot.putInt(8, 0);
        return Syscall.raw(Syscall.KCMP, pid, pid, KCMP_EPOLL_TFD, tfd, slot.address()) == 0;
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        eventpoll_file_entry e = file.getEpfd();
        int got;
        try {
            got = (int) ctx.syscall().call("epoll_create1", EPOLL_CREATE1, 0);
            if ((e.getFlags() & EventObjects.O_NONBLOCK) != 0) {
                ctx.syscall().call("fcntl(F_SETFL)", Syscall.FCNTL, got, Pipe.F_SETFL, EventObjects.O_NONBLOCK);
            }
        } catch (SyscallException x) {
            throw EventObjects.restoreFailed(ctx, fd.getFd(), "epoll", x);
        }
        int epfd = fd.getFd(); // where it will be once the caller moved it
        ctx.afterFds(() -> {
            for (eventpoll_tfd_entry t : e.getTfdList()) {
                // struct epoll_event is packed on x86_64: u32 events, u64 data
                long at = EventObjects.put(ctx, 0, EventObjects.le(12).putInt(t.getEvents()).putLong(t.getData()));
                try {
                    ctx.syscall().call("epoll_ctl(ADD)", EPOLL_CTL, epfd, EPOLL_CTL_ADD, t.getTfd(), at);
                } catch (SyscallException x) {
                    throw EventObjects.restoreFailed(ctx, epfd, "epoll, registering fd " + t.getTfd()
                            + " with events " + Integer.toHexString(t.getEvents()), x);
                }
            }
        });
        return got;
    }
}
