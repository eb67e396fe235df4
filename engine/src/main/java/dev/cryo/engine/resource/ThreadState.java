package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.Registers;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.creds_entry;
import dev.cryo.image.proto.rseq_entry;
import dev.cryo.image.proto.thread_core_entry;
import dev.cryo.image.proto.thread_info_x86;
import dev.cryo.image.proto.thread_sas_entry;
import dev.cryo.image.proto.user_x86_regs_entry;
import dev.cryo.image.proto.user_x86_regs_mode;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One thread's own state, dumped and restored here: registers with the xstate and fs/gs base, signal mask, its
 * private pending signals, sigaltstack, clear-child-tid address, robust futex list, rseq, comm and the syscall
 * it was stopped in (its restart follows the kernel's rules on restore). A process's leader is a thread like any
 * other; what the threads share (memory, files, handlers, the shared signal queue) belongs to the task.
 *
 * <p>Dump side, one instance per frozen thread: {@link #read} takes registers and mask, {@link #readRemoteAll} what
 * only the thread itself can tell (sigaltstack, clear-child-tid), {@link #readFrozen} the rest ptrace and the
 * kernel give from outside, all kept raw; {@link #putBack} undoes what the dump changed before the thread is let go;
 * {@link #core} turns the raw state into the image's entry afterwards, off the frozen window. Restore side: {@link #restoreOwn} in a thread already
 * made with its tid, while the scratch page is still mapped, then {@link #restoreRegisters} last.
 */
public final class ThreadState {
    static final int GET_ROBUST_LIST = 274, SET_ROBUST_LIST = 273, SET_TID_ADDRESS = 218;
    static final int PR_SET_NAME = 15, PR_GET_TID_ADDRESS = 40;
    static final int SS_ONSTACK = 1, SS_DISABLE = 2, SS_AUTODISARM = 1 << 31;
    /** Bytes of scratch {@link #readRemoteAll} and {@link #restoreOwn} use: a stack_t and the tid address. */
    public static final int SCRATCH_BYTES = 32;

    private final int tid;
    private Registers regs;
    private long sigmask;
    private boolean masked;
    private RemoteSyscall remote;
    // read while frozen, turned into the core entry once the tree runs again (see core)
    private long clearTid;
    private boolean sasRead;
    private long sasSp, sasSize;
    private int sasFlags;
    private byte[] xsave;
    private long robustHead, robustLen;
    /** Its nice value, scheduling policy (SCHED_RESET_ON_FORK included) and real-time priority. */
    private int nice, policy, rtPriority;
    private java.util.List<byte[]> pending = java.util.List.of();
    private Ptrace.RseqConfig rseq;
    private String comm = "";

    private ThreadState(int tid) {
        this.tid = tid;
    }

    /** A thread in a ptrace stop, about to be dumped. */
    public static ThreadState frozen(int tid) {
        return new ThreadState(tid);
    }

    public int tid() {
        return tid;
    }

    /** Its registers as found at the freeze (null before {@link #read}). */
    public Registers registers() {
        return regs;
    }

    /** How many signals of its own were pending when it was read (each a siginfo in its core). */
    public int pendingCount() {
        return pending.size();
    }

    public long sigmask() {
        return sigmask;
    }

    /** Registers and signal mask: read first, they are what {@link #putBack} restores. */
    public void read() throws SyscallException {
        readRegisters();
        readMask(null);
    }

    /** The first half of {@link #read}: the registers (and what a restarted syscall was). */
    public void readRegisters() throws SyscallException {
        regs = Ptrace.registers(tid);
        if (regs.origRax() == Registers.RESTART_SYSCALL) {
            restarted = regs.restartedSyscall(codeBefore(tid, regs.rip()));
        }
    }

    /** The second half of {@link #read}: the signal mask, from the thread's {@link #kernelRows row} where it says. */
    public void readMask(ThreadKernelView.Row row) throws SyscallException {
        sigmask = row != null && row.maskKnown() ? row.blocked() : Ptrace.sigmask(tid);
    }

    /**
     * The syscall a thread in restart_syscall resumes ({@link Registers#restartedSyscall}), or -1: the core names it
     * in orig_ax, as it would stand had that syscall not been stopped before, so that the restore resumes it by the
     * same rules.
     */
    private long restarted = -1;

    /** The 7 bytes of code that end at {@code rip}, or null when they cannot be read. */
    private static byte[] codeBefore(int tid, long rip) {
        try {
            return new dev.cryo.engine.mem.RemoteMemory(tid).read(rip - 7, 7);
        } catch (SyscallException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Remote syscalls in this thread: each blocks every signal for its span, so none can interrupt it, and puts
     * the thread's registers and mask back once done (a Cryo killed between two calls leaves it as it was).
     */
    public RemoteSyscall remote(long site) throws SyscallException {
        if (remote == null) {
            masked = true; // putBack sets the mask again, whatever a failed call left
            remote = RemoteSyscall.puttingBack(tid, site, regs, sigmask);
        }
        return remote;
    }

    /**
     * Makes the thread's remote calls safe from Cryo's death ({@link dev.cryo.engine.ptrace.SigreturnFrame}): a frame
     * of its own state goes at or below {@code top}, under its stack's red zone, and below {@code scratch} where it
     * would cover that (a thread whose stack pointer lies just above the leader's scratch: only a program that moves
     * stacks about has one). Nothing when the task's code has no trampolines ({@code tramp} null) or the frame would
     * not lie whole in the private writable mapping its top is in (a thread on a small stack of its own, near its
     * end, whose frame would cover other memory): its calls then run as before.
     *
     * @param scratch the task's scratch, which calls write into (null: none)
     * @param maps    the task's mappings
     * @return whether the thread's calls have a frame
     */
    public boolean armFrame(dev.cryo.engine.mem.RemoteMemory memory, dev.cryo.engine.ptrace.Trampolines tramp,
                            long top, RemoteScratch scratch, java.util.List<dev.cryo.engine.proc.MapsEntry> maps)
            throws SyscallException, CryoException {
        if (tramp == null || remote == null) {
            return false;
        }
        return remote.arm(memory, frame(tramp, top, scratch, maps), tramp);
    }

    /** The frame {@link #armFrame} writes, or null where it gives none. */
    private dev.cryo.engine.ptrace.SigreturnFrame frame(dev.cryo.engine.ptrace.Trampolines tramp, long top,
                                                        RemoteScratch scratch, java.util.List<dev.cryo.engine.proc.MapsEntry> maps)
            throws SyscallException, CryoException {
        readXstate();
        var f = dev.cryo.engine.ptrace.SigreturnFrame.below(top, regs, sigmask, xsave, tramp.restorer());
        if (f != null && scratch != null && f.address() < scratch.address() + scratch.size()
                && f.address() + f.size() > scratch.address()) {
            f = dev.cryo.engine.ptrace.SigreturnFrame.below(scratch.address(), regs, sigmask, xsave, tramp.restorer());
        }
        return f != null && withinOneMapping(f.address(), f.address() + f.size(), maps) ? f : null;
    }

    private static boolean withinOneMapping(long from, long to, java.util.List<dev.cryo.engine.proc.MapsEntry> maps) {
        for (var m : maps) {
            if (from >= m.start() && to <= m.end()) {
                return m.read() && m.write() && !m.shared();
            }
        }
        return false;
    }

    /** The highest address a frame of this thread's may end at: below its red zone (128 bytes under rsp). */
    public long frameTop() {
        return regs.get(Registers.RSP) - 128;
    }

    private void readXstate() throws SyscallException, CryoException {
        if (xsave == null) {
            xsave = Ptrace.xstate(tid);
            FpuState.check(xsave, tid);
        }
    }

    private static final long[] REMOTE_CALLS = {Syscall.SIGALTSTACK, Syscall.PRCTL};

    /**
     * sigaltstack and the clear-child-tid address, which no interface but the thread's own syscalls gives, for the
     * threads of one process at once: each thread runs its two calls one after the
     * other ({@link RemoteSyscall#rawEachChain}: the second is loaded at the first's exit stop, the thread's own
     * registers and mask are put back once), and all of them together, so that the threads' wake-ups and stops
     * overlap. Each thread of a batch has its own {@link #SCRATCH_BYTES} at {@code offset}; the scratch's size
     * decides how many go in a batch.
     *
     * @param stepping whether the process neither ignores SIGTRAP nor has one pending in its shared queue: then
     *                 the calls of threads without a SIGTRAP of their own pending ({@link #readFrozen} says, read
     *                 first) are stepped over, one stop each instead of two ({@link RemoteSyscall#rawEachChain}),
     *                 unless they have a frame
     * @param tramp    the task's trampolines: each thread's calls get a frame below its stack ({@link #armFrame});
     *                 null: none
     * @param maps     the task's mappings
     */
    public static void readRemoteAll(java.util.List<ThreadState> threads, long site, RemoteScratch scratch, int offset,
                                     boolean stepping, dev.cryo.engine.ptrace.Trampolines tramp,
                                     java.util.List<dev.cryo.engine.proc.MapsEntry> maps)
            throws SyscallException, CryoException {
        int batch = Math.max(1, (scratch.size() - offset) / SCRATCH_BYTES);
        for (int from = 0; from < threads.size(); from += batch) {
            java.util.List<ThreadState> some = threads.subList(from, Math.min(threads.size(), from + batch));
            java.util.List<RemoteSyscall> calls = new java.util.ArrayList<>(some.size());
            long[][][] args = new long[some.size()][][];
            boolean step = stepping;
            java.util.List<dev.cryo.engine.ptrace.SigreturnFrame> frames = new java.util.ArrayList<>(some.size());
            for (int i = 0; i < some.size(); i++) {
                ThreadState t = some.get(i);
                calls.add(t.remote(site));
                frames.add(tramp != null && !t.remote.armed() ? t.frame(tramp, t.frameTop(), scratch, maps) : null);
                long at = scratch.address() + offset + (long) i * SCRATCH_BYTES;
                args[i] = new long[][]{{0, at}, {PR_GET_TID_ADDRESS, at + 24}};
            }
            RemoteSyscall.armAll(new dev.cryo.engine.mem.RemoteMemory(some.get(0).tid), calls, frames, tramp);
            for (RemoteSyscall c : calls) {
                step &= !c.armed();
            }
            for (ThreadState t : some) {
                step &= t.noTrapPending();
            }
            long[][] results;
            ByteBuffer b = null;
            if (step) {
                // what the calls write holds values they never write: a thread whose values are still there after
                // the unchecked steps is read again, checked (rawEachStepTrusted)
                ByteBuffer fill = ByteBuffer.allocate(some.size() * SCRATCH_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < some.size(); i++) {
                    fill.putInt(i * SCRATCH_BYTES + 8, UNWRITTEN_SS_FLAGS);
                    fill.putLong(i * SCRATCH_BYTES + 24, UNWRITTEN_TID_ADDRESS);
                }
                scratch.write(offset, fill.array());
                results = RemoteSyscall.rawEachStepTrusted(calls, REMOTE_CALLS, args);
                b = ByteBuffer.wrap(scratch.read(offset, some.size() * SCRATCH_BYTES)).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < some.size(); i++) {
                    int o = i * SCRATCH_BYTES;
                    if (b.getInt(o + 8) == UNWRITTEN_SS_FLAGS || b.getLong(o + 24) == UNWRITTEN_TID_ADDRESS) {
                        results[i] = RemoteSyscall.rawEachChain(calls.subList(i, i + 1), REMOTE_CALLS,
                                new long[][][]{args[i]}, false)[0];
                        b.put(o, scratch.read(offset + o, SCRATCH_BYTES));
                    }
                }
            } else {
                results = RemoteSyscall.rawEachChain(calls, REMOTE_CALLS, args, false);
            }
            for (int i = 0; i < results.length; i++) {
                failed("sigaltstack", some.get(i), results[i][0]);
                failed("prctl(PR_GET_TID_ADDRESS)", some.get(i), results[i][1]);
            }
            if (!step) {
                b = ByteBuffer.wrap(scratch.read(offset, some.size() * SCRATCH_BYTES)).order(ByteOrder.LITTLE_ENDIAN);
            }
            for (int i = 0; i < some.size(); i++) {
                int o = i * SCRATCH_BYTES;
                ThreadState t = some.get(i);
                t.sasSp = b.getLong(o);
                t.sasFlags = b.getInt(o + 8);
                t.sasSize = b.getLong(o + 16);
                t.sasRead = true;
                t.clearTid = b.getLong(o + 24);
            }
        }
    }

    /**
     * The frozen process's threads as the kernel's task iterator reads them ({@link ThreadKernelView}), with no
     * remote call and no /proc read per thread, after {@link #read}. Each frozen thread must have its row and no row
     * may be left over: by tid, the TLS base its registers show checked against the row's, or, where rows do not
     * carry Cryo's tids (Cryo in a container), by that TLS base alone, which then must be each row's own. Any
     * doubt and the rows are not used.
     *
     * @param linked the process's view, linked before the freeze (closed here), or null: linked now
     * @return the rows by tid; null when the view is not used or failed (the caller reads each thread as before)
     */
    public static java.util.Map<Integer, ThreadKernelView.Row> kernelRows(ThreadKernelView linked, int pid,
                                                                         java.util.List<ThreadState> threads,
                                                                         dev.cryo.engine.log.Log log) {
        try (ThreadKernelView view = linked != null ? linked : ThreadKernelView.forProcess(pid, threads.size())) {
            if (view == null) {
                return null;
            }
            var rows = view.read();
            java.util.Map<Integer, ThreadKernelView.Row> out = new java.util.HashMap<>();
            java.util.Map<Long, ThreadKernelView.Row> byTls = new java.util.HashMap<>();
            boolean byTid = ThreadKernelView.rowsKeyedByTid();
            for (var row : rows.values()) {
                if (!byTid && byTls.put(row.fsBase(), row) != null) {
                    log.debug("pid %d: two of its threads share TLS base %#x: the kernel's iterator is not used", pid,
                            row.fsBase());
                    return null;
                }
            }
            for (ThreadState t : threads) {
                long tls = t.regs.get(Registers.FS_BASE);
                var row = byTid ? rows.get(t.tid) : byTls.get(tls);
                if (row == null || row.fsBase() != tls) {
                    log.debug("pid %d: the kernel's iterator has no row for thread %d (TLS base %#x): not used", pid,
                            t.tid, tls);
                    return null;
                }
                out.put(t.tid, row);
            }
            if (rows.size() != threads.size()) {
                log.debug("pid %d: the kernel's iterator gave %d threads, %d were frozen: not used", pid, rows.size(),
                        threads.size());
                return null;
            }
            return out;
        } catch (SyscallException e) {
            log.debug("pid %d: the kernel's iterator failed (%s): not used", pid, e.getMessage());
            return null;
        }
    }

    /**
     * What each thread's {@link #kernelRows row} holds, after {@link #read}: sigaltstack and clear-child-tid (for
     * {@link #readRemoteAll}), robust list, comm and scheduling (for {@link #readPlain}).
     */
    public static void fromKernel(java.util.List<ThreadState> threads, java.util.Map<Integer, ThreadKernelView.Row> rows) {
        for (ThreadState t : threads) {
            var row = rows.get(t.tid);
            t.sasSp = row.sasSp();
            t.sasSize = row.sasSize();
            t.sasFlags = row.sasFlags(t.regs.get(Registers.RSP));
            t.sasRead = true;
            t.clearTid = row.clearTid();
            t.robustHead = row.robustHead();
            t.robustLen = ROBUST_LIST_HEAD_BYTES;
            t.comm = row.comm();
            t.nice = row.nice();
            t.policy = row.policy();
            t.rtPriority = row.rtPriority();
        }
    }

    /** What get_robust_list gives as the length: always the size of struct robust_list_head. */
    static final long ROBUST_LIST_HEAD_BYTES = 24;

    /** Whether {@link #readFrozen} found no SIGTRAP in the thread's own queue (false before it ran). */
    private boolean noTrapPending() {
        if (xsave == null) {
            return false;
        }
        for (byte[] info : pending) {
            if (ByteBuffer.wrap(info).order(ByteOrder.LITTLE_ENDIAN).getInt(0) == dev.cryo.engine.ptrace.WaitStatus.SIGTRAP) {
                return false;
            }
        }
        return true;
    }

    /**
     * Written into the scratch before the unchecked steps: flags sigaltstack never reports (its flags are
     * SS_ONSTACK, SS_DISABLE and SS_AUTODISARM), an odd kernel-half address no set_tid_address of a real program
     * gives. Even if one did, the checked read that follows returns the same value.
     */
    static final int UNWRITTEN_SS_FLAGS = 0x5a5a5a50;
    static final long UNWRITTEN_TID_ADDRESS = 0xa5a5_5a5a_a5a5_5a5bL;

    private static void failed(String name, ThreadState thread, long result) throws SyscallException {
        if (result == RemoteSyscall.UNREAD) {
            return; // an unchecked step's: its values were checked in memory
        }
        if (result < 0 && result > -4096) {
            throw new SyscallException("remote " + name + " in thread " + thread.tid, (int) -result);
        }
    }

    /**
     * What ptrace and the kernel tell from outside of a frozen thread, as raw values: its xstate (checked here, so
     * that an area the image cannot hold is refused while the thread can still run on), robust list, rseq, own
     * pending signals and comm. Nothing here builds an image entry: {@link #core} does, once the tree runs again.
     */
    public void readFrozen(String comm) throws SyscallException, CryoException {
        readTraced(null);
        readPlain(comm);
    }

    /**
     * The ptrace part of {@link #readFrozen}, on the thread's tracer: xstate, own pending signals, rseq. What the
     * thread's {@link #kernelRows row} (null: none) holds is not asked again: an empty own pending set (most threads)
     * spares the PEEKSIGINFO, the rseq registration the GET_RSEQ_CONFIGURATION.
     */
    public void readTraced(ThreadKernelView.Row row) throws SyscallException, CryoException {
        readXstate();
        pending = row != null && row.noOwnPending() ? java.util.List.of() : Ptrace.pendingSignals(tid, false);
        rseq = row != null && row.rseq() != null ? row.rseq() : Ptrace.rseqConfiguration(tid);
    }

    /**
     * The rest of {@link #readFrozen}, robust list and comm: plain reads (get_robust_list, /proc) that any thread of
     * Cryo's may make while the thread is frozen, so that they need not wait for the tracer ({@link #readPlainAside}).
     */
    public void readPlain(String comm) throws SyscallException {
        NativeBuffer b = PAIR.get();
        long r = Syscall.raw(GET_ROBUST_LIST, tid, b.address(), b.address() + 8);
        if (r < 0) {
            throw new SyscallException("get_robust_list(" + tid + ")", (int) -r);
        }
        robustHead = b.getLong(0);
        robustLen = b.getLong(8);
        this.comm = comm;
        readScheduling(b);
    }

    static final int GETPRIORITY = 140, SETPRIORITY = 141, SCHED_SETSCHEDULER = 144, SCHED_GETSCHEDULER = 145,
            SCHED_GETPARAM = 143, PRIO_PROCESS = 0, SCHED_FIFO = 1, SCHED_RR = 2, SCHED_DEADLINE = 6,
            SCHED_RESET_ON_FORK = 0x40000000;

    /** A thread's nice value, policy (SCHED_RESET_ON_FORK included) and real-time priority. */
    private record Scheduling(int nice, int policy, int rtPriority) {
    }

    private void readScheduling(NativeBuffer b) throws SyscallException {
        Scheduling s = scheduling(tid, b);
        nice = s.nice();
        policy = s.policy();
        rtPriority = s.rtPriority();
    }

    /** Asked of the kernel by tid (no ptrace request); {@code b} takes sched_getparam's answer. */
    private static Scheduling scheduling(int tid, NativeBuffer b) throws SyscallException {
        long r = Syscall.raw(GETPRIORITY, PRIO_PROCESS, tid);
        if (r < 0) {
            throw new SyscallException("getpriority(" + tid + ")", (int) -r);
        }
        int nice = 20 - (int) r; // the raw syscall gives 20 - nice, so that it is never negative
        r = Syscall.raw(SCHED_GETSCHEDULER, tid);
        if (r < 0) {
            throw new SyscallException("sched_getscheduler(" + tid + ")", (int) -r);
        }
        int policy = (int) r;
        int base = policy & ~SCHED_RESET_ON_FORK;
        int rtPriority = 0;
        if (base == SCHED_FIFO || base == SCHED_RR) {
            r = Syscall.raw(SCHED_GETPARAM, tid, b.address());
            if (r < 0) {
                throw new SyscallException("sched_getparam(" + tid + ")", (int) -r);
            }
            rtPriority = b.getInt(0);
        }
        return new Scheduling(nice, policy, rtPriority);
    }

    /**
     * The thread's nice value and scheduling policy set again, from Cryo, before it runs, where they differ from
     * what the new thread has (Cryo's own, inherited): the policy first, as sched_setscheduler keeps the nice value,
     * then the nice value. A Cryo without CAP_SYS_NICE (a container's) cannot raise a priority, nor change a task
     * whose credentials were already set to another user's; the thread then runs with what it has, and the caller
     * logs why.
     *
     * @return null, or what could not be set
     * @throws CryoException a policy Cryo cannot set (SCHED_DEADLINE needs its runtime and period, not kept)
     */
    public static String restoreScheduling(int tid, core_entry core) throws SyscallException, CryoException {
        thread_core_entry th = core.getThreadCore();
        int policy = th.getSchedPolicy(), base = policy & ~SCHED_RESET_ON_FORK;
        if (base == SCHED_DEADLINE) {
            throw new CryoException("thread " + tid + " ran under SCHED_DEADLINE, which Cryo cannot restore");
        }
        Scheduling now = scheduling(tid, PAIR.get());
        String unset = null;
        if (now.policy() != policy || now.rtPriority() != th.getSchedPrio()) {
            NativeBuffer b = PAIR.get();
            b.putInt(0, th.getSchedPrio());
            long r = Syscall.raw(SCHED_SETSCHEDULER, tid, policy, b.address());
            if (r == -1 /* EPERM */) {
                unset = "scheduling policy " + base + " priority " + th.getSchedPrio() + " not set ("
                        + SyscallException.describe(1) + "): it runs under policy " + (now.policy() & ~SCHED_RESET_ON_FORK);
            } else if (r < 0) {
                throw new SyscallException("sched_setscheduler(" + tid + ", policy " + base + ", priority "
                        + th.getSchedPrio() + ")", (int) -r);
            }
        }
        if (now.nice() != th.getSchedNice()) {
            long r = Syscall.raw(SETPRIORITY, PRIO_PROCESS, tid, th.getSchedNice());
            if (r == -1 /* EPERM */ || r == -13 /* EACCES */) {
                String n = "nice " + th.getSchedNice() + " not set (" + SyscallException.describe((int) -r)
                        + "): it runs at nice " + now.nice();
                unset = unset == null ? n : unset + "; " + n;
            } else if (r < 0) {
                throw new SyscallException("setpriority(" + tid + ", nice " + th.getSchedNice() + ")", (int) -r);
            }
        }
        return unset;
    }


    /**
     * From this many threads on, {@link #readPlainAside} is worth its hand-off (a wake-up of the side thread); a
     * process with fewer reads them on its tracer.
     */
    public static final int ASIDE_FROM = 8;

    /**
     * {@link #readPlain} of every thread but the leader (whose comm the caller read already and passes), on a side
     * thread while the tracer goes on with the ptrace reads and the remote calls: about 15 us a thread (three
     * syscalls for /proc/TID/comm, one for the robust list) off the tracer's path. The caller must {@link
     * #awaitPlain} before the threads are let go: the values are those of the frozen threads.
     */
    public static java.util.concurrent.Future<?> readPlainAside(java.util.List<ThreadState> threads, int pid,
                                                               String leaderComm, dev.cryo.engine.proc.ProcFs proc) {
        return SIDE.submit(new PlainReads(threads, pid, leaderComm, proc));
    }

    /**
     * {@link #readPlainAside}'s work: a class of its own, not a lambda, as a lambda's first use links it (a few
     * milliseconds in a cold JVM) and a dump's rehearsal (one thread) never reaches this one before the freeze.
     */
    private record PlainReads(java.util.List<ThreadState> threads, int pid, String leaderComm,
                              dev.cryo.engine.proc.ProcFs proc) implements java.util.concurrent.Callable<Void> {
        @Override
        public Void call() throws SyscallException, java.io.IOException {
            for (ThreadState t : threads) {
                t.readPlain(t.tid == pid ? leaderComm : proc.comm(t.tid));
            }
            return null;
        }
    }

    /** Waits for {@link #readPlainAside}; its failure as the tracer's own would be. */
    public static void awaitPlain(java.util.concurrent.Future<?> plain, int pid) throws SyscallException, CryoException {
        try {
            plain.get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof SyscallException x) {
                throw x;
            }
            throw new CryoException("cannot dump pid " + pid + ": reading its threads' comm failed: "
                    + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CryoException("cannot dump pid " + pid + ": interrupted while reading its threads' comm");
        }
    }

    /** The side thread of {@link #readPlainAside}: one for the whole JVM, a daemon, made before any freeze. */
    private static final java.util.concurrent.ExecutorService SIDE =
            java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "cryo-thread-reads");
                t.setDaemon(true);
                return t;
            });

    /**
     * The thread's core entry from what {@link #read}, {@link #readRemoteAll} and {@link #readFrozen} kept:
     * thread_info (registers, xstate, clear-child-tid) and thread_core (mask, own pending signals, altstack, robust
     * list, rseq, comm). It needs nothing of the thread itself, so it is built after the tree was let go.
     *
     * @param creds the task's, written in every thread's core (the restore sets them in each thread: a raw
     *              setresuid or capset changes only the calling thread)
     */
    public core_entry.Builder core(creds_entry creds) throws CryoException {
        Registers named = restarted < 0 ? regs : regs.with(Registers.ORIG_RAX, restarted);
        var info = thread_info_x86.newBuilder().setClearTidAddr(clearTid).setGpregs(gpregsOf(named.forImage()))
                .setFpregs(FpuState.toImage(xsave, tid));
        var t = thread_core_entry.newBuilder().setFutexRla(robustHead).setFutexRlaLen((int) robustLen)
                .setSchedNice(nice).setSchedPolicy(policy).setSchedPrio(rtPriority).setBlkSigset(sigmask)
                .setSignalsP(Signals.queueEntry(pending)).setCreds(creds).setComm(comm);
        if (sasRead) {
            t.setSas(thread_sas_entry.newBuilder().setSsSp(sasSp).setSsFlags(sasFlags).setSsSize(sasSize));
        }
        if (rseq != null && rseq.abiPointer() != 0) {
            t.setRseqEntry(rseq_entry.newBuilder().setRseqAbiPointer(rseq.abiPointer())
                    .setRseqAbiSize((int) rseq.abiSize()).setSignature(rseq.signature()));
        }
        return core_entry.newBuilder().setMtype(core_entry.march.X86_64).setThreadInfo(info).setThreadCore(t);
    }

    /**
     * Waits until the thread is stopped again after {@link #readRemoteAll} (see {@link RemoteSyscall#settle}): before
     * any ptrace request to it but through its {@link #remote} and {@link #putBack}, which wait themselves.
     */
    public void settle() throws SyscallException {
        if (remote != null) {
            remote.settle();
        }
    }

    /** The thread as it was: registers (a syscall it was in restarts on detach) and mask. */
    public void putBack() throws SyscallException {
        if (remote != null) {
            remote.settle(); // its last remote sequence may have left it on the way to its event stop
        }
        if (remote != null && remote.putBack()) {
            masked = false; // its last remote call ran to its end and put both back
        } else if (remote != null && regs != null) {
            if (masked) {
                Ptrace.setSigmask(tid, sigmask); // the mask first: see RemoteSyscall's restoreOwn
                masked = false;
            }
            Ptrace.setRegisters(tid, regs);
        }
        if (masked) {
            Ptrace.setSigmask(tid, sigmask);
            masked = false;
        }
        if (remote != null && remote.armed()) {
            framed = remote; // its frame's bytes go back in disarmAll, once every thread's registers are
        }
        remote = null;
    }

    /** A {@link #putBack} thread whose frame's bytes {@link #disarmAll} has yet to put back. */
    private RemoteSyscall framed;

    /**
     * Puts back what the frames of these threads (one process's, each {@link #putBack}) covered, in one write: below
     * their red zones, dead stack, which a signal overwrites too; best effort.
     */
    public static void disarmAll(java.util.List<ThreadState> threads) {
        java.util.List<RemoteSyscall> framed = new java.util.ArrayList<>();
        for (ThreadState t : threads) {
            if (t.framed != null) {
                framed.add(t.framed);
                t.framed = null;
            }
        }
        if (!framed.isEmpty()) {
            RemoteSyscall.disarmAll(new dev.cryo.engine.mem.RemoteMemory(framed.get(0).pid()), framed);
        }
    }

    private static final ThreadLocal<NativeBuffer> PAIR = ThreadLocal.withInitial(() -> NativeBuffer.allocate(16));

    /** Makes this thread's buffer now (before a freeze), so that the frozen window does not. */
    public static void prepareThread() {
        PAIR.get();
        ThreadKernelView.prepareThread();
        try {
            SIDE.submit(new PlainReads(java.util.List.of(), 0, "", null)).get(); // the side thread, its classes
            SIDE.submit(() -> PAIR.get()).get(); // and its buffer
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- restore

    /**
     * Everything of the thread's own that takes a syscall in the thread itself: altstack, robust list, rseq,
     * clear-child-tid, comm and its private pending signals (queued to itself, which needs no permission). The
     * thread's mask blocks every signal until {@link #restoreRegisters}.
     *
     * @param pid the process (thread group) the thread belongs to
     */
    public static void restoreOwn(RemoteSyscall inThread, RemoteScratch scratch, int offset, int pid, core_entry core)
            throws SyscallException {
        restoreOwn(inThread, scratch, offset, pid, inThread.pid(), core);
    }

    /**
     * As above, {@code pid} and {@code tid} being the numbers the thread's own pid namespace has for them (a
     * container's differ from the tracer's).
     */
    public static void restoreOwn(RemoteSyscall inThread, RemoteScratch scratch, int offset, int pid, int tid,
                                  core_entry core) throws SyscallException {
        thread_core_entry th = core.getThreadCore();
        if (th.hasSas() && (th.getSas().getSsFlags() & SS_DISABLE) == 0) {
            thread_sas_entry s = th.getSas();
            NativeBuffer b = NativeBuffer.allocate(24);
            b.putLong(0, s.getSsSp());
            b.putInt(8, s.getSsFlags() & SS_AUTODISARM); // SS_ONSTACK is a state, not a setting
            b.putLong(16, s.getSsSize());
            scratch.write(offset, b.bytes(0, 24));
            inThread.call("sigaltstack", Syscall.SIGALTSTACK, scratch.address() + offset, 0);
        }
        if (th.getFutexRla() != 0) {
            inThread.call("set_robust_list", SET_ROBUST_LIST, th.getFutexRla(), th.getFutexRlaLen());
        }
        if (core.getThreadInfo().getClearTidAddr() != 0) {
            inThread.call("set_tid_address", SET_TID_ADDRESS, core.getThreadInfo().getClearTidAddr());
        }
        String comm = th.hasComm() ? th.getComm() : core.getTc().getComm();
        if (!comm.isEmpty()) {
            inThread.call("prctl(PR_SET_NAME)", Syscall.PRCTL, PR_SET_NAME, scratch.string(offset, comm));
        }
        if (th.hasRseqEntry() && th.getRseqEntry().getRseqAbiPointer() != 0) {
            rseq_entry re = th.getRseqEntry();
            inThread.call("rseq register", Syscall.RSEQ, re.getRseqAbiPointer(), re.getRseqAbiSize(), 0,
                    re.getSignature());
        }
        Signals.restoreQueue(inThread, scratch, offset, pid, tid, th.getSignalsP());
    }

    /**
     * Last, with no remote syscall after it in this thread: xstate, registers (a syscall it was stopped in is
     * set to restart by the kernel's rules) and its own signal mask.
     */
    public static Registers restoreRegisters(int tid, core_entry core) throws SyscallException, CryoException {
        thread_info_x86 ti = core.getThreadInfo();
        Ptrace.setXstate(tid, FpuState.fromImage(ti.getFpregs(), Ptrace.xstate(tid)));
        Registers regs = registersOf(ti.getGpregs()).forNewTask();
        Ptrace.setRegisters(tid, regs);
        thread_core_entry th = core.getThreadCore();
        Ptrace.setSigmask(tid, th.hasBlkSigset() ? th.getBlkSigset() : core.getTc().getBlkSigset());
        return regs;
    }

    public static user_x86_regs_entry gpregsOf(Registers r) {
        return user_x86_regs_entry.newBuilder().setR15(r.get(Registers.R15)).setR14(r.get(Registers.R14))
                .setR13(r.get(Registers.R13)).setR12(r.get(Registers.R12)).setBp(r.get(Registers.RBP))
                .setBx(r.get(Registers.RBX)).setR11(r.get(Registers.R11)).setR10(r.get(Registers.R10))
                .setR9(r.get(Registers.R9)).setR8(r.get(Registers.R8)).setAx(r.get(Registers.RAX))
                .setCx(r.get(Registers.RCX)).setDx(r.get(Registers.RDX)).setSi(r.get(Registers.RSI))
                .setDi(r.get(Registers.RDI)).setOrigAx(r.get(Registers.ORIG_RAX)).setIp(r.get(Registers.RIP))
                .setCs(r.get(Registers.CS)).setFlags(r.get(Registers.EFLAGS)).setSp(r.get(Registers.RSP))
                .setSs(r.get(Registers.SS)).setFsBase(r.get(Registers.FS_BASE)).setGsBase(r.get(Registers.GS_BASE))
                .setDs(r.get(Registers.DS)).setEs(r.get(Registers.ES)).setFs(r.get(Registers.FS))
                .setGs(r.get(Registers.GS)).setMode(user_x86_regs_mode.NATIVE).build();
    }

    public static Registers registersOf(user_x86_regs_entry g) {
        long[] w = new long[Registers.COUNT];
        w[Registers.R15] = g.getR15();
        w[Registers.R14] = g.getR14();
        w[Registers.R13] = g.getR13();
        w[Registers.R12] = g.getR12();
        w[Registers.RBP] = g.getBp();
        w[Registers.RBX] = g.getBx();
        w[Registers.R11] = g.getR11();
        w[Registers.R10] = g.getR10();
        w[Registers.R9] = g.getR9();
        w[Registers.R8] = g.getR8();
        w[Registers.RAX] = g.getAx();
        w[Registers.RCX] = g.getCx();
        w[Registers.RDX] = g.getDx();
        w[Registers.RSI] = g.getSi();
        w[Registers.RDI] = g.getDi();
        w[Registers.ORIG_RAX] = g.getOrigAx();
        w[Registers.RIP] = g.getIp();
        w[Registers.CS] = g.getCs();
        w[Registers.EFLAGS] = g.getFlags();
        w[Registers.RSP] = g.getSp();
        w[Registers.SS] = g.getSs();
        w[Registers.FS_BASE] = g.getFsBase();
        w[Registers.GS_BASE] = g.getGsBase();
        w[Registers.DS] = g.getDs();
        w[Registers.ES] = g.getEs();
        w[Registers.FS] = g.getFs();
        w[Registers.GS] = g.getGs();
        return new Registers(w);
    }
}
