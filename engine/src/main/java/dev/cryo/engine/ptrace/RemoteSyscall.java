package dev.cryo.engine.ptrace;

import dev.cryo.engine.sys.SyscallException;

/**
 * Runs syscalls inside a stopped tracee: point rip at a {@code syscall} instruction of the tracee, load the
 * number and arguments, and let it run from syscall entry to syscall exit under PTRACE_SYSCALL. Nothing after
 * the instruction ever executes, so any {@code 0f 05} in an executable mapping serves (the vDSO has some).
 */
public final class RemoteSyscall {
    private final int pid;
    private long site;
    private Registers base;
    /** The tracee's own signal mask, put back with its registers after each call; null: neither is put back. */
    private final Long ownMask;
    /** Whether the tracee's own registers and mask are in place (no call of a {@link #puttingBack} one under way). */
    private boolean putBack = true;
    /** The pid (in the tracer's pid namespace) of the last task a call here forked or cloned; 0 before any. */
    private int lastChild;
    /**
     * A sequence ended in a step's SIGTRAP stop, which was left with the signal discarded and PTRACE_INTERRUPT
     * pending: the tracee is on its way to an event stop that nobody waited for yet ({@link #settle}).
     */
    private boolean settling;
    /**
     * The {@link SigreturnFrame} below the tracee's stack that each call returns into should Cryo die during it (0:
     * none, calls run from {@link #site} with the tracee's own rsp); {@link #disarm} puts back the bytes it covers.
     */
    private long frame;
    private byte[] underFrame;

    /**
     * @param pid  a tracee in a ptrace stop
     * @param site address of a {@code syscall} instruction in it
     * @param base registers to start every call from (the tracee's own, with rip/rax/args replaced)
     */
    public RemoteSyscall(int pid, long site, Registers base) {
        this(pid, site, base, null);
    }

    private RemoteSyscall(int pid, long site, Registers base, Long ownMask) {
        this.pid = pid;
        this.site = site;
        this.base = base;
        this.ownMask = ownMask;
    }

    /**
     * For a task that must run on as it was (a dump): every signal is blocked only for the span of each call
     * (none may interrupt it), and after each call the task's own registers and mask are back. Should the tracer
     * die between calls (SIGKILL), the kernel detaches a task that is exactly as it was, and it runs on, its
     * interrupted syscall restarted; only a death inside a call leaves it changed.
     *
     * @param ownMask the tracee's signal mask as found at the freeze
     */
    public static RemoteSyscall puttingBack(int pid, long site, Registers base, long ownMask) {
        return new RemoteSyscall(pid, site, base, ownMask);
    }

    public int pid() {
        return pid;
    }

    /**
     * The task the last clone3/fork run here made, as the tracer's pid namespace numbers it (the kernel's event
     * message): what the call returned is its number in the caller's namespace, which differs inside a container.
     */
    public int lastChild() {
        return lastChild;
    }

    public long site() {
        return site;
    }

    /**
     * Whether the tracee has its own registers and mask again: true for a {@link #puttingBack} call that ran to its
     * end, false while one is under way or after one failed half-way (the caller then puts them back itself).
     */
    public boolean putBack() {
        return ownMask != null && putBack;
    }

    /**
     * Makes every later call safe from Cryo's death: {@code f} is written below the tracee's stack, and each call
     * runs from the trampolines' {@code syscall; ret} with rsp at it, so that a tracee the kernel detaches in the
     * middle of a call finishes it and rt_sigreturns into its own state. A tracee whose memory there cannot be
     * written keeps calls without a frame.
     *
     * @return whether the frame is in place
     */
    public boolean arm(dev.cryo.engine.mem.RemoteMemory memory, SigreturnFrame f, Trampolines t) {
        if (ownMask == null || frame != 0 || f == null || t == null) {
            return frame != 0;
        }
        try {
            byte[] under = memory.read(f.address(), f.size());
            memory.write(f.address(), f.bytes());
            underFrame = under;
        } catch (SyscallException e) {
            return false;
        }
        frame = f.address();
        site = t.gadget();
        return true;
    }

    /**
     * {@link #arm} for several tracees of one process at once: what the frames cover is read in one call and the
     * frames written in another, instead of two calls each. Where the batch fails (a frame over memory that
     * cannot be read or written), each is armed by itself.
     *
     * @param frames each call's frame, in the order of {@code calls}; a null one is not armed
     */
    public static void armAll(dev.cryo.engine.mem.RemoteMemory memory, java.util.List<RemoteSyscall> calls,
                              java.util.List<SigreturnFrame> frames, Trampolines t) {
        int n = 0, total = 0;
        for (int i = 0; i < calls.size(); i++) {
            if (frames.get(i) != null && calls.get(i).ownMask != null && calls.get(i).frame == 0) {
                n++;
                total += frames.get(i).size();
            }
        }
        if (n == 0 || t == null) {
            return;
        }
        long[] at = new long[n];
        long[] len = new long[n];
        int[] which = new int[n];
        for (int i = 0, k = 0; i < calls.size(); i++) {
            if (frames.get(i) != null && calls.get(i).ownMask != null && calls.get(i).frame == 0) {
                at[k] = frames.get(i).address();
                len[k] = frames.get(i).size();
                which[k++] = i;
            }
        }
        // one populated mapping for what the frames cover and then the frames: 65 threads' frames are a quarter of a
        // megabyte, and fresh pages cost ~10 µs each to fault in (the tree is frozen meanwhile)
        try (Staging local = Staging.of(total)) {
            armAll(memory, calls, frames, t, local.buffer(), at, len, which, n);
        }
    }

    /** A buffer of frames' bytes in a populated mapping, unmapped on close; a plain one if the mapping fails. */
    private record Staging(dev.cryo.engine.sys.PopulatedMemory mapped, dev.cryo.engine.sys.NativeBuffer buffer)
            implements AutoCloseable {
        static Staging of(int bytes) {
            try {
                var m = dev.cryo.engine.sys.PopulatedMemory.map(bytes);
                return new Staging(m, dev.cryo.engine.sys.NativeBuffer.wrap(m.buffer()));
            } catch (SyscallException e) {
                return new Staging(null, dev.cryo.engine.sys.NativeBuffer.allocate(bytes));
            }
        }

        @Override
        public void close() {
            if (mapped != null) {
                mapped.close();
            }
        }
    }

    private static void armAll(dev.cryo.engine.mem.RemoteMemory memory, java.util.List<RemoteSyscall> calls,
                               java.util.List<SigreturnFrame> frames, Trampolines t, dev.cryo.engine.sys.NativeBuffer local,
                               long[] at, long[] len, int[] which, int n) {
        byte[][] under = new byte[n][];
        try {
            memory.transfer(false, local.address(), at, len, n);
            for (int k = 0, off = 0; k < n; off += (int) len[k], k++) {
                under[k] = local.bytes(off, (int) len[k]);
            }
        } catch (SyscallException e) {
            for (int k = 0; k < n; k++) { // nothing written yet: each by itself
                calls.get(which[k]).arm(memory, frames.get(which[k]), t);
            }
            return;
        }
        for (int k = 0, off = 0; k < n; off += (int) len[k], k++) {
            local.put(off, frames.get(which[k]).bytes());
        }
        boolean whole;
        try {
            memory.transfer(true, local.address(), at, len, n);
            whole = true;
        } catch (SyscallException e) {
            whole = false; // some frames may be written: what they cover was read before, each is written again
        }
        for (int k = 0; k < n; k++) {
            RemoteSyscall c = calls.get(which[k]);
            try {
                if (!whole) {
                    memory.write(at[k], frames.get(which[k]).bytes());
                }
                c.underFrame = under[k];
                c.frame = at[k];
                c.site = t.gadget();
            } catch (SyscallException e) {
                try { // not armed: its calls run without a frame, over what was there
                    memory.write(at[k], under[k]);
                } catch (SyscallException again) {
                    // memory that takes no write took none of the frame either
                }
            }
        }
    }

    /**
     * {@link #disarm} for several tracees of one process at once, in one call; once each has its own registers
     * back. Best effort, as disarm.
     */
    public static void disarmAll(dev.cryo.engine.mem.RemoteMemory memory, java.util.List<RemoteSyscall> calls) {
        java.util.List<RemoteSyscall> armed = new java.util.ArrayList<>();
        int total = 0;
        for (RemoteSyscall c : calls) {
            if (c.frame != 0) {
                armed.add(c);
                total += c.underFrame.length;
            }
        }
        if (armed.isEmpty()) {
            return;
        }
        long[] at = new long[armed.size()];
        long[] len = new long[armed.size()];
        try (Staging local = Staging.of(total)) { // as armAll's: no fresh pages to fault in while frozen
            disarmAll(memory, armed, local.buffer(), at, len);
        }
    }

    private static void disarmAll(dev.cryo.engine.mem.RemoteMemory memory, java.util.List<RemoteSyscall> armed,
                                  dev.cryo.engine.sys.NativeBuffer local, long[] at, long[] len) {
        int off = 0;
        for (int k = 0; k < armed.size(); k++) {
            RemoteSyscall c = armed.get(k);
            at[k] = c.frame;
            len[k] = c.underFrame.length;
            local.put(off, c.underFrame);
            off += c.underFrame.length;
        }
        try {
            memory.transfer(true, local.address(), at, len, at.length);
            for (RemoteSyscall c : armed) {
                c.frame = 0;
                c.underFrame = null;
            }
        } catch (SyscallException e) {
            for (RemoteSyscall c : armed) {
                c.disarm(memory);
            }
        }
    }

    /** Whether calls here run with a {@link SigreturnFrame} under them. */
    public boolean armed() {
        return frame != 0;
    }

    /**
     * Puts back the bytes the frame covered, once the tracee's own registers are back (it no longer needs it); no
     * call runs here afterwards. Below the red zone they are free stack, which a signal overwrites as well: should
     * they not go back, nothing the program may rely on is lost, so the thread is let go all the same.
     */
    public void disarm(dev.cryo.engine.mem.RemoteMemory memory) {
        if (frame != 0) {
            long at = frame;
            frame = 0;
            try {
                memory.write(at, underFrame);
            } catch (SyscallException e) {
                // see above
            }
            underFrame = null;
        }
    }

    /** The syscall instruction moved (the vDSO was remapped). */
    public void moveSite(long newSite) {
        if (frame == 0) {
            this.site = newSite;
        }
    }

    /** Calls {@code nr}; returns the kernel's result: a value, or {@code -errno}. */
    public long raw(long nr, long... args) throws SyscallException {
        if (stepCalls && ownMask == null && frame == 0 && !changesTasks(nr)) {
            settle();
            Ptrace.setRegisters(pid, callRegisters(nr, args));
            Ptrace.singlestep(pid, 0);
            return stepped(nr);
        }
        start(nr, args);
        toExit(nr);
        return finish(nr);
    }

    /** Whether {@link #raw} steps over the syscall instruction (see {@link #stepCalls(boolean)}). */
    private boolean stepCalls;

    /**
     * Calls run by stepping over the syscall instruction (PTRACE_SINGLESTEP): one stop a call, reported at the
     * syscall's exit, instead of an entry and an exit stop. For a task being built by a restore, whose state is
     * still its creator's: the step's SIGTRAP is forced on it and discarded at its stop, which is harmless only
     * while SIGTRAP is neither ignored nor pending there. The builder turns this off before the task gets its own
     * signal handlers and queues. Calls that make or end tasks, or return elsewhere, always take both stops.
     */
    public void stepCalls(boolean on) {
        stepCalls = on;
    }

    /** Whether task {@code pid} neither ignores SIGTRAP nor has one pending: its calls may then be stepped over. */
    public static boolean trapFree(int pid) {
        try {
            var st = new dev.cryo.engine.proc.ProcFs().status(pid);
            return ((st.hex("SigIgn") | st.hex("SigPnd") | st.hex("ShdPnd")) & SIGTRAP_BIT) == 0;
        } catch (java.io.IOException | RuntimeException e) {
            return false;
        }
    }

    private static boolean changesTasks(long nr) {
        return nr == 56 /* clone */ || nr == 57 /* fork */ || nr == 58 /* vfork */ || nr == 59 /* execve */
                || nr == 60 /* exit */ || nr == 231 /* exit_group */ || nr == 15 /* rt_sigreturn */
                || nr == 435 /* clone3 */ || nr == 322 /* execveat */;
    }

    /** Loads the call into the tracee and lets it run to the syscall's entry (package-private: tests leave it there). */
    void start(long nr, long[] args) throws SyscallException {
        settle();
        Registers call = callRegisters(nr, args);
        if (ownMask != null) {
            putBack = false;
            blockAll(call);
        } else {
            Ptrace.setRegisters(pid, call);
        }
        Ptrace.syscall(pid, 0);
    }

    private static final int[] ARG_REGS = {Registers.RDI, Registers.RSI, Registers.RDX, Registers.R10, Registers.R8,
            Registers.R9};

    /** The registers of a call {@code nr(args)} from {@link #base}, at the syscall instruction. */
    private Registers callRegisters(long nr, long[] args) {
        long[] w = base.words();
        w[Registers.RIP] = site;
        w[Registers.RAX] = nr;
        w[Registers.ORIG_RAX] = -1; // no syscall restart on the way out of the current stop
        if (frame != 0) {
            w[Registers.RSP] = frame; // the gadget's ret pops the frame's return address
        }
        for (int i = 0; i < 6; i++) {
            w[ARG_REGS[i]] = i < args.length ? args[i] : 0;
        }
        return Registers.adopt(w);
    }

    /** Waits for the entry stop and lets the syscall run to its exit. */
    private void toExit(long nr) throws SyscallException {
        awaitSyscallStop("entry of syscall " + nr);
        Ptrace.syscall(pid, 0);
    }

    /** Waits for the exit stop, reads the result and puts the tracee's own registers and mask back. */
    private long finish(long nr) throws SyscallException {
        awaitSyscallStop("exit of syscall " + nr);
        long result = Ptrace.registers(pid).rax();
        if (ownMask != null) {
            restoreOwn();
        }
        return result;
    }

    /**
     * Loads a call's registers and blocks every signal: with a frame, registers first, so that at no moment the tracee
     * has its own registers with a mask not its own (a Cryo killed between the two leaves it in the call, whose
     * rt_sigreturn puts its own mask back); without one, the mask first, as a signal must not find Cryo's registers.
     */
    private void blockAll(Registers call) throws SyscallException {
        if (frame != 0) {
            Ptrace.setRegisters(pid, call);
            Ptrace.setSigmask(pid, -1L);
        } else {
            Ptrace.setSigmask(pid, -1L);
            Ptrace.setRegisters(pid, call);
        }
    }

    /**
     * The tracee's own mask, then its own registers: in between it still holds a call's registers, which a frame
     * makes safe; the other order would leave its own registers with every signal blocked.
     */
    private void restoreOwn() throws SyscallException {
        Ptrace.setSigmask(pid, ownMask);
        Ptrace.setRegisters(pid, base);
        putBack = true;
    }

    /**
     * From the exit stop of one call straight to the next: its registers are loaded there, and the tracee goes back
     * to the syscall instruction with every signal still blocked (the first call's result is read first).
     */
    private long chain(long nr, long[] args) throws SyscallException {
        awaitSyscallStop("exit of a syscall before " + nr);
        long result = Ptrace.registers(pid).rax();
        Ptrace.setRegisters(pid, callRegisters(nr, args));
        Ptrace.syscall(pid, 0);
        return result;
    }

    /**
     * The same syscall in several tracees at once (threads of a frozen process, each with its own arguments):
     * every call is started before any is waited for, so the tracees' wake-ups and stops overlap instead of
     * costing two scheduler round trips each, one after another. Each tracee ends as {@link #raw} leaves it. A
     * tracee that fails does not stop the others: each is driven to the end of its call, then the first failure is
     * thrown.
     *
     * @param args the arguments of each call, in the order of {@code calls}
     * @return each call's result, a value or {@code -errno}
     */
    public static long[] rawEach(java.util.List<RemoteSyscall> calls, long nr, long[][] args) throws SyscallException {
        long[] results = new long[calls.size()];
        Batch batch = new Batch(calls);
        batch.each((i, c) -> c.start(nr, args[i]));
        batch.each((i, c) -> c.toExit(nr));
        batch.each((i, c) -> results[i] = c.finish(nr));
        batch.throwFirst();
        return results;
    }

    /**
     * Tracees driven through the same steps together: a tracee whose step fails sits out the later steps, and the
     * first failure is thrown once every other tracee is through.
     */
    private static final class Batch {
        interface Step {
            void run(int i, RemoteSyscall call) throws SyscallException;
        }

        private final java.util.List<RemoteSyscall> calls;
        private final SyscallException[] failed;

        Batch(java.util.List<RemoteSyscall> calls) {
            this.calls = calls;
            this.failed = new SyscallException[calls.size()];
        }

        void each(Step step) {
            for (int i = 0; i < calls.size(); i++) {
                if (failed[i] == null) {
                    try {
                        step.run(i, calls.get(i));
                    } catch (SyscallException e) {
                        failed[i] = e;
                    }
                }
            }
        }

        void throwFirst() throws SyscallException {
            for (SyscallException e : failed) {
                if (e != null) {
                    throw e;
                }
            }
        }
    }

    /**
     * Several syscalls in each of several tracees ({@link #rawEach} for a sequence): in every tracee, call
     * {@code k + 1} is loaded at the exit stop of call {@code k}, and the tracee's own registers and mask are put
     * back once, after the last. Of {@link #puttingBack} tracees only; a Cryo killed in the middle of a sequence
     * leaves that tracee changed, as one killed in the middle of a single call does.
     *
     * @param nrs  the syscalls, in order, the same in every tracee
     * @param args {@code args[i][k]}: tracee {@code i}'s arguments of call {@code k}
     * @return {@code results[i][k]}: a value or {@code -errno}
     */
    public static long[][] rawEachChain(java.util.List<RemoteSyscall> calls, long[] nrs, long[][][] args)
            throws SyscallException {
        return rawEachChain(calls, nrs, args, false);
    }

    /**
     * Whether a call of these has a frame: those are never stepped, as the step's SIGTRAP, forced on a tracee whose
     * tracer died, would kill it before it reached its frame.
     */
    static boolean anyArmed(java.util.List<RemoteSyscall> calls) {
        for (RemoteSyscall c : calls) {
            if (c.frame != 0) {
                return true;
            }
        }
        return false;
    }

    /** SIGTRAP's bit in a signal mask: the one signal a stepped call leaves unblocked. */
    public static final long SIGTRAP_BIT = 1L << (WaitStatus.SIGTRAP - 1);

    /**
     * {@link #rawEachChain}, each call but the last optionally run by stepping over the syscall instruction
     * (PTRACE_SINGLESTEP): the kernel reports the step at the call's exit as a SIGTRAP, one stop per call instead
     * of an entry and an exit stop. The step's SIGTRAP is forced on the thread, which is harmless only where
     * SIGTRAP is neither ignored by the process nor pending in the thread or the process (forcing an ignored one
     * resets its disposition; a pending one would merge with it): the caller checks, and passes
     * {@code stepping} only then. Every other signal stays blocked, and the step's SIGTRAP is discarded.
     */
    public static long[][] rawEachChain(java.util.List<RemoteSyscall> calls, long[] nrs, long[][][] args,
                                        boolean stepping) throws SyscallException {
        if (stepping && nrs.length > 1 && !anyArmed(calls)) {
            return rawEachStepped(calls, nrs, args);
        }
        long[][] results = new long[calls.size()][nrs.length];
        Batch batch = new Batch(calls);
        batch.each((i, c) -> {
            c.requirePuttingBack();
            c.start(nrs[0], args[i][0]);
        });
        for (int k = 0; k < nrs.length; k++) {
            int call = k;
            batch.each((i, c) -> c.toExit(nrs[call]));
            batch.each((i, c) -> results[i][call] = call + 1 < nrs.length ? c.chain(nrs[call + 1], args[i][call + 1])
                    : c.finish(nrs[call]));
        }
        batch.throwFirst();
        return results;
    }

    /**
     * Every call but the last stepped over; the last one, loaded at the step's stop and resumed with the step's
     * SIGTRAP discarded, runs to its entry and exit stops as {@link #raw} does. So the tracee never waits in a
     * SIGTRAP stop once the sequence is done: should Cryo die then, the kernel's detach would deliver that SIGTRAP.
     */
    private static long[][] rawEachStepped(java.util.List<RemoteSyscall> calls, long[] nrs, long[][][] args)
            throws SyscallException {
        int last = nrs.length - 1;
        long[][] results = new long[calls.size()][nrs.length];
        Batch batch = new Batch(calls);
        for (int k = 0; k <= last; k++) {
            int call = k;
            batch.each((i, c) -> {
                if (call == 0) {
                    c.requirePuttingBack();
                    c.settle();
                    c.putBack = false;
                    Ptrace.setSigmask(c.pid, ~SIGTRAP_BIT);
                } else {
                    results[i][call - 1] = c.stepped(nrs[call - 1]);
                }
                Ptrace.setRegisters(c.pid, c.callRegisters(nrs[call], args[i][call]));
                if (call < last) {
                    Ptrace.singlestep(c.pid, 0);
                } else {
                    Ptrace.syscall(c.pid, 0);
                }
            });
        }
        batch.each((i, c) -> c.toExit(nrs[last]));
        batch.each((i, c) -> results[i][last] = c.finish(nrs[last]));
        batch.throwFirst();
        return results;
    }

    /**
     * {@code -Dcryo.threads.remote=passes}: the threads' sequences as before ({@link #rawEachStepped}, the last call to
     * its syscall exit stop, every result read from the registers), for A/B runs against {@link #rawEachSettled}, the
     * default (a variant polling the stops with WNOHANG bought nothing measurable on this VM and was dropped).
     */
    static final boolean SETTLED = !"passes".equals(System.getProperty("cryo.threads.remote", "settled"));

    /**
     * Every call stepped over ({@link #rawEachStepped}'s conditions), the last one too; the tracees' steps waited
     * for in the order they were started. At the last step's SIGTRAP stop the tracee's own registers and mask go back, and
     * it leaves that stop with the SIGTRAP discarded and a PTRACE_INTERRUPT pending: the kernel takes the interrupt
     * before the tracee returns to user space (get_signal() checks its job-control traps before dequeuing any
     * signal), so it ends in an event stop as it was frozen, running none of its own code. That stop is waited for
     * only before the next request to the tracee ({@link #settle}), so the last round trip of a batch overlaps what
     * the dump does next instead of adding to it. Should Cryo die before the stop, the kernel's detach drops the
     * pending interrupt and the tracee runs on as it was: it never waits in a SIGTRAP stop once its sequence is done.
     */
    private static long[][] rawEachSettled(java.util.List<RemoteSyscall> calls, long[] nrs, long[][][] args,
                                           boolean trusted) throws SyscallException {
        int n = calls.size(), last = nrs.length - 1;
        long[][] results = new long[n][nrs.length];
        int[] step = new int[n]; // the call each tracee is stepping over
        Batch batch = new Batch(calls);
        batch.each((i, c) -> {
            c.requirePuttingBack();
            c.settle();
            c.putBack = false;
            Ptrace.setSigmask(c.pid, ~SIGTRAP_BIT);
            Ptrace.setRegisters(c.pid, c.callRegisters(nrs[0], args[i][0]));
            Ptrace.singlestep(c.pid, 0);
        });
        // in turn: each tracee's next step is waited for in the order they were started
        for (int k = 0; k <= last; k++) {
            int call = k;
            batch.each((i, c) -> {
                while (step[i] == call && !c.advance(Ptrace.waitFor(c.pid), step, i, results, nrs, args, trusted)) {
                    // a stop on the way, stepped past
                }
            });
        }
        batch.throwFirst();
        return results;
    }


    /**
     * One stop of a tracee in {@link #rawEachSettled}: the end of its step over call {@code step[i]} (the next is
     * loaded and stepped, or, after the last, the tracee is put back and let go to its event stop), or a stop on
     * the way, stepped past as {@link #stepped} does.
     *
     * @return whether the tracee's sequence is done
     */
    private boolean advance(WaitStatus st, int[] step, int i, long[][] results, long[] nrs, long[][][] args,
                            boolean trusted) throws SyscallException {
        int k = step[i];
        if (!st.stopped()) {
            throw new SyscallException("pid " + pid + " " + st + " during syscall " + nrs[k], 3 /* ESRCH */);
        }
        if (st.signalStop() && st.stopSignal() == WaitStatus.SIGTRAP) {
            Registers r = trusted ? null : Ptrace.registers(pid);
            if (trusted || r.rip() == site + 2) {
                results[i][k] = trusted ? UNREAD : r.rax();
                if (k + 1 < nrs.length) {
                    step[i] = k + 1;
                    Ptrace.setRegisters(pid, callRegisters(nrs[k + 1], args[i][k + 1]));
                    Ptrace.singlestep(pid, 0);
                    return false;
                }
                restoreOwn();
                Ptrace.interrupt(pid);
                settling = true;
                Ptrace.cont(pid, 0); // the step's SIGTRAP discarded; the interrupt stops it before user space
                return true;
            }
        }
        Ptrace.singlestep(pid, 0);
        return false;
    }

    /** A result {@link #rawEachStepTrusted} did not read. */
    public static final long UNREAD = Long.MIN_VALUE;

    /**
     * {@link #rawEachChain} with stepping, for calls whose outcome shows in the tracee's memory: a SIGTRAP stop is
     * taken for the end of the step without reading the registers (two requests fewer per tracee), and the results
     * are {@link #UNREAD}. The caller fills what the calls write with values no call writes beforehand and redoes
     * a tracee whose values are still there with a checked sequence: a call that failed, or a SIGTRAP that came from
     * elsewhere before the call ran (its step then never happened), leaves them. Under {@code
     * -Dcryo.threads.remote=passes} the checked sequence of before.
     */
    public static long[][] rawEachStepTrusted(java.util.List<RemoteSyscall> calls, long[] nrs, long[][][] args)
            throws SyscallException {
        if (anyArmed(calls)) {
            return rawEachChain(calls, nrs, args, false);
        }
        return SETTLED ? rawEachSettled(calls, nrs, args, true) : rawEachChain(calls, nrs, args, true);
    }

    /**
     * Waits for the event stop a {@link #rawEachSettled} sequence left the tracee heading to; nothing when none is
     * pending. Every request to the tracee after such a sequence comes after this (a request to a running tracee
     * fails with ESRCH). A signal-delivery stop on the way (none is expected: the interrupt is taken first) is let
     * through and the tracee interrupted again, as the freezer does.
     */
    public void settle() throws SyscallException {
        if (!settling) {
            return;
        }
        settling = false;
        while (true) {
            WaitStatus st = Ptrace.waitFor(pid);
            if (!st.stopped()) {
                throw new SyscallException("pid " + pid + " " + st + " after its remote syscalls", 3 /* ESRCH */);
            }
            if (st.eventStop()) {
                return;
            }
            if (st.signalStop()) {
                Ptrace.cont(pid, st.stopSignal());
                Ptrace.interrupt(pid);
            } else {
                Ptrace.cont(pid, 0);
            }
        }
    }

    /** A sequence puts the tracee's own registers and mask back once, at its end: only a putting-back tracee's. */
    private void requirePuttingBack() {
        if (ownMask == null) {
            throw new IllegalArgumentException("rawEachChain: pid " + pid + " does not put back");
        }
    }

    /**
     * Waits for the step over the syscall instruction to end, and returns the call's result. Any other stop (a
     * group stop, SIGKILL's way out, a SIGTRAP from elsewhere that came before the call ran) is stepped past,
     * its signal suppressed, as {@link #awaitSyscallStop} does.
     */
    private long stepped(long nr) throws SyscallException {
        while (true) {
            WaitStatus st = Ptrace.waitFor(pid);
            if (!st.stopped()) {
                throw new SyscallException("pid " + pid + " " + st + " during syscall " + nr, 3 /* ESRCH */);
            }
            if (st.signalStop() && st.stopSignal() == WaitStatus.SIGTRAP) {
                Registers r = Ptrace.registers(pid);
                if (r.rip() == site + 2) {
                    return r.rax();
                }
            }
            Ptrace.singlestep(pid, 0);
        }
    }

    /** Calls {@code nr}; throws with its name and errno when it fails. */
    public long call(String name, long nr, long... args) throws SyscallException {
        long r = raw(nr, args);
        if (r < 0 && r > -4096) {
            throw new SyscallException("remote " + name + " in pid " + pid, (int) -r);
        }
        return r;
    }

    void awaitSyscallStop(String what) throws SyscallException {
        while (true) {
            WaitStatus st = Ptrace.waitFor(pid);
            if (st.syscallStop()) {
                return;
            }
            if (!st.stopped()) {
                throw new SyscallException("pid " + pid + " " + st + " before " + what, 3 /* ESRCH */);
            }
            int event = st.event();
            if (event == WaitStatus.EVENT_FORK || event == 2 /* vfork */ || event == WaitStatus.EVENT_CLONE) {
                lastChild = (int) Ptrace.eventMessage(pid);
            }
            // a group stop or a signal: suppress it and go on (all signals are blocked while we work)
            Ptrace.syscall(pid, 0);
        }
    }
}
