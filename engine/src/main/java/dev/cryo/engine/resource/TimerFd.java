package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.timerfd_entry;

/**
 * timerfd: clock, interval, time left and the expirations not read yet. fdinfo gives the time left relative to
 * now, so the timer goes on from where it stood when frozen (time spent in the images does not count, as with
 * CRIU). An absolute timer (TFD_TIMER_ABSTIME) is armed again at now + time left on its own clock, so that
 * TFD_TIMER_CANCEL_ON_SET keeps working. Unread ticks are put back with TFD_IOC_SET_TICKS.
 */
public final class TimerFd implements FdKind {
    static final int TIMERFD_CREATE = 283, TIMERFD_SETTIME = 286, CLOCK_GETTIME = 228;
    static final int TFD_TIMER_ABSTIME = 1;
    static final long TFD_IOC_SET_TICKS = 0x40085400L;

    @Override
    public fd_types type() {
        return fd_types.TIMERFD;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.target().equals("anon_inode:[timerfd]");
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        int clock = Integer.parseInt(EventObjects.required(ctx, fd, "clockid"));
        long ticks = Long.parseUnsignedLong(EventObjects.required(ctx, fd, "ticks"));
        int settime = Integer.parseInt(EventObjects.required(ctx, fd, "settime flags"), 8);
        long[] value = EventObjects.pair(EventObjects.required(ctx, fd, "it_value"));
        long[] interval = EventObjects.pair(EventObjects.required(ctx, fd, "it_interval"));
        var e = timerfd_entry.newBuilder().setId(id).setFlags(EventObjects.fileFlags(fd)).setFown(RegularFile.noOwner())
                .setClockid(clock).setTicks(ticks).setSettimeFlags(settime).setVsec(value[0]).setVnsec(value[1])
                .setIsec(interval[0]).setInsec(interval[1]);
        return file_entry.newBuilder().setType(fd_types.TIMERFD).setId(id).setTfd(e).build();
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        timerfd_entry e = file.getTfd();
        try {
            int got = (int) ctx.syscall().call("timerfd_create(clock " + e.getClockid() + ")", TIMERFD_CREATE,
                    e.getClockid(), e.getFlags() & EventObjects.O_NONBLOCK);
            long vsec = e.getVsec(), vnsec = e.getVnsec();
            boolean periodic = e.getIsec() != 0 || e.getInsec() != 0;
            if (vsec == 0 && vnsec == 0 && periodic) {
                vnsec = 1; // due right at the freeze: a zero value would disarm it
            }
            if (vsec != 0 || vnsec != 0) {
                int flags = e.getSettimeFlags();
                if ((flags & TFD_TIMER_ABSTIME) != 0) {
                    long[] now = now(ctx, e.getClockid());
                    vsec += now[0];
                    vnsec += now[1];
                    if (vnsec >= 1_000_000_000L) {
                        vsec++;
                        vnsec -= 1_000_000_000L;
                    }
                }
                var its = EventObjects.le(32).putLong(e.getIsec()).putLong(e.getInsec()).putLong(vsec).putLong(vnsec);
                long at = EventObjects.put(ctx, 0, its);
                ctx.syscall().call("timerfd_settime", TIMERFD_SETTIME, got, flags, at, 0);
            }
            if (e.getTicks() != 0) {
                long at = EventObjects.put(ctx, 64, EventObjects.le(8).putLong(e.getTicks()));
                ctx.syscall().call("ioctl(TFD_IOC_SET_TICKS)", Syscall.IOCTL, got, TFD_IOC_SET_TICKS, at);
            }
            return got;
        } catch (SyscallException x) {
            throw EventObjects.restoreFailed(ctx, fd.getFd(), "timerfd on clock " + e.getClockid(), x);
        }
    }

    /**
     * A clock as the new task reads it, by a call in it: a tree with a time namespace of its own reads its monotonic
     * and boot-time clocks with that namespace's offsets, which the engine's own reading lacks.
     */
    static long[] now(FdRestoreContext ctx, int clock) throws SyscallException {
        long at = EventObjects.put(ctx, 96, EventObjects.le(16).putLong(0).putLong(0));
        ctx.syscall().call("clock_gettime(" + clock + ")", CLOCK_GETTIME, clock, at);
        java.nio.ByteBuffer ts = java.nio.ByteBuffer.wrap(ctx.scratch().read(EventObjects.SCRATCH_AT + 96, 16))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        return new long[]{ts.getLong(0), ts.getLong(8)};
    }
}
