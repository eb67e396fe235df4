package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.ptrace.RemoteReads;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.itimer_entry;
import dev.cryo.image.proto.posix_timer_entry;
import dev.cryo.image.proto.task_timers_entry;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A task's timers (core_entry.tc.timers): the three interval timers (ITIMER_REAL is also alarm()) and its POSIX
 * timers. They have no interface but the task's own syscalls, so both sides call getitimer/timer_gettime and
 * setitimer/timer_create/timer_settime inside the task. /proc/PID/timers lists the POSIX timers with their clock
 * and sigevent. Time left is kept, as with CRIU; a POSIX timer's pending overrun count is not (the kernel has no
 * call to set it).
 */
public final class Timers {
    static final int GETITIMER = 36, SETITIMER = 38, TIMER_CREATE = 222, TIMER_SETTIME = 223, TIMER_GETTIME = 224,
            TIMER_GETOVERRUN = 225, TIMER_DELETE = 226, PR_TIMER_CREATE_RESTORE_IDS = 77;
    static final int SIGEV_SIGNAL = 0, SIGEV_NONE = 1, SIGEV_THREAD = 2, SIGEV_THREAD_ID = 4;
    /** Highest timer id reached by creating and deleting timers when the kernel cannot create one by id. */
    static final int MAX_SEQUENTIAL_ID = 4096;

    private Timers() {
    }

    /** The POSIX timers /proc/PID/timers lists, without their times yet. */
    public record Listed(int id, int signo, long sival, int notifyMode, int notifyTid, int clock) {
    }

    public static List<Listed> listed(int pid) throws IOException {
        List<Listed> out = new ArrayList<>();
        Path p = Path.of("/proc/" + pid + "/timers");
        if (!Files.exists(p)) {
            return out;
        }
        int id = -1, signo = 0, notify = 0, tid = 0;
        long sival = 0;
        for (String line : Files.readAllLines(p)) {
            String v = line.substring(line.indexOf(':') + 1).trim();
            if (line.startsWith("ID:")) {
                id = Integer.parseInt(v);
            } else if (line.startsWith("signal:")) {
                String[] s = v.split("/");
                signo = Integer.parseInt(s[0]);
                sival = Long.parseUnsignedLong(s[1], 16);
            } else if (line.startsWith("notify:")) {
                String[] s = v.split("/");
                notify = switch (s[0]) {
                    case "none" -> SIGEV_NONE;
                    case "thread" -> SIGEV_THREAD;
                    default -> SIGEV_SIGNAL;
                };
                if (s[1].startsWith("tid.")) {
                    notify |= SIGEV_THREAD_ID;
                }
                tid = Integer.parseInt(s[1].substring(s[1].indexOf('.') + 1));
            } else if (line.startsWith("ClockID:")) {
                out.add(new Listed(id, signo, sival, notify, tid, Integer.parseInt(v)));
            }
        }
        out.sort(Comparator.comparingInt(Listed::id));
        return out;
    }

    /** Scratch bytes {@link #dump} needs: the three itimervals and each listed timer's itimerspec. */
    public static int dumpBytes(List<Listed> listed) {
        return (3 + listed.size()) * 32;
    }

    /**
     * Reads every timer of the frozen task: getitimer three times, timer_gettime and timer_getoverrun
     * per timer {@code listed} ({@link #listed}), added to {@code reads}.
     */
    public static RemoteReads.Later<task_timers_entry> dump(RemoteReads reads, List<Listed> listed) {
        long[] itAt = new long[3];
        int[] itCall = new int[3];
        for (int which = 0; which < 3; which++) {
            itAt[which] = reads.out(32);
            itCall[which] = reads.call("getitimer(" + which + ")", GETITIMER, which, itAt[which]);
        }
        long[] at = new long[listed.size()];
        int[] get = new int[listed.size()], overrun = new int[listed.size()];
        for (int i = 0; i < listed.size(); i++) {
            int id = listed.get(i).id();
            at[i] = reads.out(32);
            get[i] = reads.call("timer_gettime(" + id + ")", TIMER_GETTIME, id, at[i]);
            overrun[i] = reads.call("timer_getoverrun(" + id + ")", TIMER_GETOVERRUN, id);
        }
        return () -> {
            var t = task_timers_entry.newBuilder();
            itimer_entry[] it = new itimer_entry[3];
            for (int which = 0; which < 3; which++) {
                reads.result(itCall[which]);
                ByteBuffer b = reads.at(itAt[which], 32);
                it[which] = itimer_entry.newBuilder().setIsec(b.getLong(0)).setIusec(b.getLong(8))
                        .setVsec(b.getLong(16)).setVusec(b.getLong(24)).build();
            }
            t.setReal(it[0]).setVirt(it[1]).setProf(it[2]);
            for (int i = 0; i < listed.size(); i++) {
                Listed l = listed.get(i);
                reads.result(get[i]);
                ByteBuffer b = reads.at(at[i], 32);
                long overruns = reads.result(overrun[i]);
                var e = posix_timer_entry.newBuilder().setItId(l.id()).setClockId(l.clock()).setSiSigno(l.signo())
                        .setItSigevNotify(l.notifyMode()).setSivalPtr(l.sival()).setOverrun((int) overruns)
                        .setIsec(b.getLong(0)).setInsec(b.getLong(8)).setVsec(b.getLong(16)).setVnsec(b.getLong(24));
                if ((l.notifyMode() & SIGEV_THREAD_ID) != 0) {
                    e.setNotifyThreadId(l.notifyTid());
                }
                t.addPosix(e);
            }
            return t.build();
        };
    }

    /** Arms the timers again in the new task, before it runs; {@code offset} is 128 free bytes of scratch. */
    public static void restore(int pid, RemoteSyscall remote, RemoteScratch scratch, int offset, task_timers_entry t)
            throws CryoException {
        String step = "itimers";
        try {
            long at = scratch.address() + offset;
            itimer_entry[] it = {t.getReal(), t.getVirt(), t.getProf()};
            for (int which = 0; which < 3; which++) {
                itimer_entry e = it[which];
                long vsec = e.getVsec(), vusec = e.getVusec();
                if (vsec == 0 && vusec == 0) {
                    if (e.getIsec() == 0 && e.getIusec() == 0) {
                        continue; // disarmed, as a new task's are
                    }
                    // expired with its signal still queued: the kernel arms an interval itimer again only when
                    // that signal is taken (a frozen or blocking task has not taken it yet), so it read as 0 left;
                    // a value of 0 would disarm it for good, so it gets a whole interval, as CRIU gives it
                    vsec = e.getIsec();
                    vusec = e.getIusec();
                }
                scratch.write(offset, le(32).putLong(e.getIsec()).putLong(e.getIusec()).putLong(vsec)
                        .putLong(vusec).array());
                remote.call("setitimer(" + which + ")", SETITIMER, which, at, 0);
            }
            if (t.getPosixCount() == 0) {
                return;
            }
            step = "POSIX timers";
            boolean byId = remote.raw(dev.cryo.engine.sys.Syscall.PRCTL, PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0) == 0;
            List<posix_timer_entry> timers = new ArrayList<>(t.getPosixList());
            timers.sort(Comparator.comparingInt(posix_timer_entry::getItId));
            for (posix_timer_entry e : timers) {
                step = "POSIX timer " + e.getItId();
                // struct sigevent: sival (8), signo (4), notify (4), tid (4), padding to 64
                ByteBuffer se = le(64).putLong(e.getSivalPtr()).putInt(e.getSiSigno()).putInt(e.getItSigevNotify())
                        .putInt(e.hasNotifyThreadId() ? e.getNotifyThreadId() : 0);
                scratch.write(offset, se.array());
                scratch.write(offset + 64, le(4).putInt(e.getItId()).array());
                long id = -1;
                for (int tries = 0; tries <= MAX_SEQUENTIAL_ID; tries++) {
                    remote.call("timer_create", TIMER_CREATE, e.getClockId(), at, at + 64);
                    id = le(scratch.read(offset + 64, 4)).getInt(0);
                    if (id >= e.getItId()) {
                        break;
                    }
                    remote.call("timer_delete", TIMER_DELETE, id); // an id the task did not have
                    scratch.write(offset + 64, le(4).putInt(e.getItId()).array());
                }
                if (id != e.getItId()) {
                    throw new CryoException("cannot restore pid " + pid + ": POSIX timer " + e.getItId() + " came back "
                            + "as timer " + id + (byId ? "" : " (this kernel cannot create a timer by id)"));
                }
                if (e.getVsec() != 0 || e.getVnsec() != 0) {
                    scratch.write(offset, le(32).putLong(e.getIsec()).putLong(e.getInsec()).putLong(e.getVsec())
                            .putLong(e.getVnsec()).array());
                    remote.call("timer_settime(" + id + ")", TIMER_SETTIME, id, 0, at, 0);
                }
            }
            if (byId) {
                remote.raw(dev.cryo.engine.sys.Syscall.PRCTL, PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0);
            }
        } catch (SyscallException e) {
            throw new CryoException("cannot restore pid " + pid + ": step '" + step + "' failed: " + e.getMessage(), e);
        }
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }
}
