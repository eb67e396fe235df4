package dev.cryo.engine.ptrace;

import dev.cryo.engine.sys.StopSignals;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;

/** Seizes a task and brings it to a ptrace stop without sending it a signal it could see. */
public final class Freezer {
    private Freezer() {
    }

    /**
     * PTRACE_SEIZE + PTRACE_INTERRUPT, then waits for the interrupt stop. A signal caught on the way is
     * delivered as it would have been, and the task stops right after.
     */
    public static WaitStatus freeze(int pid, int options) throws SyscallException {
        Ptrace.seize(pid, options);
        Ptrace.interrupt(pid);
        while (true) {
            WaitStatus st = Ptrace.waitFor(pid);
            if (!st.stopped()) {
                throw new SyscallException("pid " + pid + " " + st + " while being frozen", 3);
            }
            if (st.eventStop()) {
                return st;
            }
            if (st.signalStop()) {
                Ptrace.cont(pid, st.stopSignal());
                Ptrace.interrupt(pid);
            } else {
                Ptrace.cont(pid, 0);
            }
        }
    }

    /** The thread ids of a process as /proc lists them now. */
    @FunctionalInterface
    public interface ThreadList {
        List<Integer> tids() throws IOException;

        /**
         * How many threads the process has now, or -1 when unknown. A listing of /proc/PID/task walks the thread
         * list by position, so a thread that exits while it is read can make it skip a live one: a last listing
         * that brings nothing new is believed only when this count agrees.
         */
        default int count() throws IOException {
            return -1;
        }
    }

    /** Bounds the re-listing: a process that makes threads faster than they can be frozen is refused. */
    static final int MAX_ROUNDS = 1000;

    /**
     * Freezes every thread of process {@code pid}: seizes and interrupts each listed thread, waits for each to
     * stop, and lists the threads again until a listing brings no new one (a running thread may start another
     * until it is itself stopped). A thread that exits meanwhile is dropped. On failure every thread frozen so
     * far is let go as it was, and the error names the thread.
     *
     * @return the frozen thread ids, the leader first
     */
    public static List<Integer> freezeAll(int pid, int options, ThreadList list) throws SyscallException {
        return freezeAll(pid, options, list, List.of(), Bound.of(Bound.DEFAULT));
    }

    /** As {@link #freezeAll(int, int, ThreadList)}, waiting for the threads' stops within {@code bound}. */
    public static List<Integer> freezeAll(int pid, int options, ThreadList list, Bound bound) throws SyscallException {
        return freezeAll(pid, options, list, List.of(), bound);
    }

    /**
     * As {@link #freezeAll(int, int, ThreadList)}, with {@code held} already seized and stopped by this thread (a
     * freeze through the freezer cgroup): the threads listed besides are frozen too, and on failure every one is let
     * go, {@code held} included. A thread that does not stop within {@code bound}, or while Cryo is asked to stop,
     * fails the freeze with a {@link StuckThread}; it is left to the tracer thread's end (see {@link #release}).
     */
    public static List<Integer> freezeAll(int pid, int options, ThreadList list, List<Integer> held, Bound bound)
            throws SyscallException {
        Set<Integer> frozen = new LinkedHashSet<>(held);
        Set<Integer> gone = new LinkedHashSet<>();
        Set<Integer> stopped = new LinkedHashSet<>(held);
        try {
            for (int round = 0; ; round++) {
                if (round == MAX_ROUNDS) {
                    throw new SyscallException("pid " + pid + " kept starting threads while being frozen", 11 /* EAGAIN */);
                }
                List<Integer> listed = new ArrayList<>();
                listed.add(pid); // the leader first, whatever the listing's order
                try {
                    for (int tid : list.tids()) {
                        if (tid != pid) {
                            listed.add(tid);
                        }
                    }
                } catch (IOException e) {
                    throw new SyscallException("listing /proc/" + pid + "/task", 3 /* ESRCH */);
                }
                List<Integer> fresh = new ArrayList<>();
                for (int tid : listed) {
                    if (frozen.contains(tid) || gone.contains(tid)) {
                        continue;
                    }
                    try {
                        Ptrace.seize(tid, options);
                    } catch (SyscallException e) {
                        if (e.errno() == 3 && tid != pid) { // exited between the listing and the seize
                            gone.add(tid);
                            continue;
                        }
                        throw tid == pid ? e : new SyscallException("thread " + tid + " of pid " + pid
                                + ": ptrace(SEIZE)", e.errno());
                    }
                    frozen.add(tid); // seized: from here on it must be let go on failure
                    Ptrace.interrupt(tid);
                    fresh.add(tid);
                }
                if (fresh.isEmpty()) {
                    int live;
                    try {
                        live = list.count();
                    } catch (IOException e) {
                        throw new SyscallException("reading the thread count of pid " + pid, 3 /* ESRCH */);
                    }
                    if (live <= frozen.size()) {
                        return new ArrayList<>(frozen);
                    }
                    continue; // the listing skipped a thread: list again
                }
                for (int tid : fresh) {
                    if (awaitStop(tid, bound)) {
                        stopped.add(tid);
                    } else {
                        frozen.remove(tid);
                        gone.add(tid);
                        if (tid == pid) {
                            throw new SyscallException("pid " + pid + " exited while being frozen", 3);
                        }
                    }
                }
            }
        } catch (SyscallException | RuntimeException e) {
            frozen.removeAll(stopped);
            if (e instanceof StuckThread stuck && frozen.remove(stuck.tid())) {
                Tracer.leaveStuck(stuck.tid()); // waited for long enough
            }
            release(stopped, frozen);
            throw e;
        }
    }

    /** How long a thread interrupted just before a failure gets to reach its stop, so that it can be detached. */
    static final long SETTLE_NANOS = 1_000_000_000L;

    /**
     * Lets go of threads seized by this thread: {@code stopped} are detached; each of {@code pending} (interrupted,
     * its stop not awaited yet) is awaited a moment and detached once it stops. One that does not stop cannot be
     * detached (the kernel takes PTRACE_DETACH only in a stop): it is left to the end of its tracer thread, which
     * lets it go with its interrupt dropped ({@link Tracer#leaveStuck}).
     */
    public static void release(java.util.Collection<Integer> stopped, java.util.Collection<Integer> pending) {
        for (int tid : stopped) {
            try {
                Ptrace.detach(tid, 0);
            } catch (SyscallException ignored) {
                // gone
            }
        }
        long settle = System.nanoTime() + SETTLE_NANOS;
        for (int tid : pending) {
            try {
                if (await(tid, settle, null, false)) {
                    Ptrace.detach(tid, 0);
                }
            } catch (StuckThread stuck) {
                Tracer.leaveStuck(tid);
            } catch (SyscallException ignored) {
                // gone
            }
        }
    }

    /** Waits for the interrupt stop of a seized (and interrupted) thread; false when it exited instead. */
    public static boolean awaitStop(int tid) throws SyscallException {
        return awaitStop(tid, Bound.of(Bound.DEFAULT));
    }

    /**
     * As {@link #awaitStop(int)}, within {@code bound}: a thread still not stopped at its deadline, or when Cryo gets a
     * stop signal ({@link StopSignals}), throws {@link StuckThread}. The thread stays seized, its interrupt pending.
     */
    public static boolean awaitStop(int tid, Bound bound) throws SyscallException {
        return await(tid, bound.deadline(), bound.total(), true);
    }

    /** Polls up to this many times, yielding the core between, before it starts to park. */
    private static final int SPINS = 32;

    /**
     * The wait itself: non-blocking polls, for a blocking waitpid could not be ended by the deadline or a stop
     * signal. A stop normally comes within microseconds: the first polls only yield the core (the thread may need
     * it to reach its stop); then the waits between polls grow from 10 us to 1 ms.
     */
    private static boolean await(int tid, long deadline, java.time.Duration total, boolean heedSignals)
            throws SyscallException {
        int idle = 0;
        while (true) {
            WaitStatus st = Ptrace.poll(tid);
            if (st == null) {
                if (idle < SPINS) {
                    idle++;
                    Thread.yield();
                    continue;
                }
                String signal = heedSignals ? StopSignals.received() : null;
                if (signal != null) {
                    throw StuckThread.stopped(tid, signal);
                }
                if (System.nanoTime() - deadline > 0) {
                    throw StuckThread.timedOut(tid, total == null ? java.time.Duration.ofNanos(SETTLE_NANOS) : total);
                }
                LockSupport.parkNanos(Math.min(1_000_000L, 10_000L << Math.min(idle++ - SPINS, 7)));
                continue;
            }
            if (!st.stopped()) {
                return false;
            }
            if (st.eventStop()) {
                return true;
            }
            if (st.signalStop()) {
                Ptrace.cont(tid, st.stopSignal());
                Ptrace.interrupt(tid);
            } else {
                Ptrace.cont(tid, 0);
            }
            idle = 0;
        }
    }

    /**
     * How long a freeze waits for threads to stop: until {@code deadline} ({@link System#nanoTime()}), {@code total}
     * after the freeze began.
     */
    public record Bound(long deadline, java.time.Duration total) {
        /** CRIU's default for --timeout. */
        public static final java.time.Duration DEFAULT = java.time.Duration.ofSeconds(10);

        /** A bound of {@code total} from now; null means the default. */
        public static Bound of(java.time.Duration total) {
            java.time.Duration t = total == null ? DEFAULT : total;
            return new Bound(System.nanoTime() + t.toNanos(), t);
        }
    }
}
