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

    public long site() {
        return site;
    }

    /** The syscall instruction moved (the vDSO was remapped). */
    public void moveSite(long newSite) {
        this.site = newSite;
    }

    /** Calls {@code nr}; returns the kernel's result: a value, or {@code -errno}. */
    public long raw(long nr, long... args) throws SyscallException {
        start(nr, args);
        toExit(nr);
        return finish(nr);
    }

    /** Loads the call into the tracee and lets it run to the syscall's entry. */
    private void start(long nr, long[] args) throws SyscallException {
        long[] w = base.words();
        w[Registers.RIP] = site;
        w[Registers.RAX] = nr;
        w[Registers.ORIG_RAX] = -1; // no syscall restart on the way out of the current stop
        int[] argRegs = {Registers.RDI, Registers.RSI, Registers.RDX, Registers.R10, Registers.R8, Registers.R9};
        for (int i = 0; i < 6; i++) {
            w[argRegs[i]] = i < args.length ? args[i] : 0;
        }
        if (ownMask != null) {
            Ptrace.setSigmask(pid, -1L);
        }
        Ptrace.setRegisters(pid, new Registers(w));
        Ptrace.syscall(pid, 0);
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
            Ptrace.setRegisters(pid, base);
            Ptrace.setSigmask(pid, ownMask);
        }
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
        int n = calls.size();
        long[] results = new long[n];
        SyscallException[] failed = new SyscallException[n];
        for (int i = 0; i < n; i++) {
            try {
                calls.get(i).start(nr, args[i]);
            } catch (SyscallException e) {
                failed[i] = e;
            }
        }
        for (int i = 0; i < n; i++) {
            if (failed[i] == null) {
                try {
                    calls.get(i).toExit(nr);
                } catch (SyscallException e) {
                    failed[i] = e;
                }
            }
        }
        for (int i = 0; i < n; i++) {
            if (failed[i] == null) {
                try {
                    results[i] = calls.get(i).finish(nr);
                } catch (SyscallException e) {
                    failed[i] = e;
                }
            }
        }
        for (SyscallException e : failed) {
            if (e != null) {
                throw e;
            }
        }
        return results;
    }

    /** Calls {@code nr}; throws with its name and errno when it fails. */
    public long call(String name, long nr, long... args) throws SyscallException {
        long r = raw(nr, args);
        if (r < 0 && r > -4096) {
            throw new SyscallException("remote " + name + " in pid " + pid, (int) -r);
        }
        return r;
    }

    private void awaitSyscallStop(String what) throws SyscallException {
        while (true) {
            WaitStatus st = Ptrace.waitFor(pid);
            if (st.syscallStop()) {
                return;
            }
            if (!st.stopped()) {
                throw new SyscallException("pid " + pid + " " + st + " before " + what, 3 /* ESRCH */);
            }
            // a group stop or a signal: suppress it and go on (all signals are blocked while we work)
            Ptrace.syscall(pid, 0);
        }
    }
}
