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
 * file. A registration whose fd was closed (or reused) since is never restored on the wrong file: it watches the fd
 * that holds its file now, or, when no fd does (the file only lives on in a syscall in flight), it is left out with
 * a warning, as CRIU does.
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
        // several registrations may carry one fd number (each added, then that fd closed and the number reused):
        // kcmp tells them apart by their rank among those of that number, in the order fdinfo lists them
        java.util.Map<Integer, Integer> ranks = new java.util.HashMap<>();
        for (String line : EventObjects.startingWith(EventObjects.fdinfoLines(ctx, fd), "tfd:")) {
            int tfd = Integer.parseInt(EventObjects.field(line, "tfd"));
            int rank = ranks.merge(tfd, 1, Integer::sum) - 1;
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
            if (!sameFile(ctx.pid(), fd.fd(), tfd, tfd, rank)) {
                // The fd the file was added with was closed or reused, yet the registration lives on: the file is
                // held elsewhere (a dup, or a syscall in flight such as the JDK's dup2-over-close of a socket
                // another thread blocks on). Watch it through the fd that still holds it; if none does, the
                // registration goes when that hold ends, so it is left out, as CRIU does.
                int holder = holder(ctx, fd.fd(), tfd, rank);
                if (holder < 0) {
                    ctx.log().warn("pid %d: fd %d (epoll) watches fd %d, which the process closed or reused since; "
                            + "no fd holds the watched file any more, so the registration is left out", ctx.pid(),
                            fd.fd(), tfd);
                    continue;
                }
                ctx.log().info("pid %d: fd %d (epoll) watches fd %d, closed since; the file is held by fd %d, "
                        + "which the registration will watch", ctx.pid(), fd.fd(), tfd, holder);
                t.setTfd(holder);
            }
            out.add(t.build());
        }
        return out;
    }

    /**
     * kcmp(KCMP_EPOLL_TFD): does fd {@code fd} of the task hold the file of the {@code rank}-th registration (from 0)
     * added as {@code tfd}?
     */
    private static boolean sameFile(int pid, int epfd, int fd, int tfd, int rank) {
        NativeBuffer slot = NativeBuffer.allocate(12);
        slot.putInt(0, epfd);
        slot.putInt(4, tfd);
        slot.putInt(8, rank);
        return Syscall.raw(Syscall.KCMP, pid, pid, KCMP_EPOLL_TFD, fd, slot.address()) == 0;
    }

    /** The lowest fd of the task that holds the file of that registration, or -1. */
    private static int holder(FdDumpContext ctx, int epfd, int tfd, int rank) throws CryoException {
        List<FdInfo> fds;
        try {
            fds = ctx.proc().fds(ctx.pid());
        } catch (java.io.IOException x) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": listing its fds for epoll fd " + epfd + ": "
                    + x.getMessage());
        }
        return fds.stream().mapToInt(FdInfo::fd).filter(f -> f != epfd && sameFile(ctx.pid(), epfd, f, tfd, rank))
                .sorted().findFirst().orElse(-1);
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
