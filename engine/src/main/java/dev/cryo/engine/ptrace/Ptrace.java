package dev.cryo.engine.ptrace;

import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SyscallException;

/** ptrace requests, each named after the request. Call only from the {@link Tracer} thread. */
public final class Ptrace {
    static final int PEEKDATA = 2, POKEDATA = 5, CONT = 7, KILL = 8, SINGLESTEP = 9, GETREGS = 12, SETREGS = 13, GETFPREGS = 14,
            DETACH = 17, SYSCALL = 24, SETOPTIONS = 0x4200, GETEVENTMSG = 0x4201, GETREGSET = 0x4204,
            SETREGSET = 0x4205, SEIZE = 0x4206, INTERRUPT = 0x4207, PEEKSIGINFO = 0x4209, GETSIGMASK = 0x420a,
            SETSIGMASK = 0x420b, GET_RSEQ_CONFIGURATION = 0x420f;
    public static final int O_TRACESYSGOOD = 1, O_TRACEFORK = 2, O_TRACECLONE = 8, O_EXITKILL = 0x100000;
    static final int NT_PRSTATUS = 1, NT_X86_XSTATE = 0x202;
    static final int WALL = 0x40000000;
    public static final int XSTATE_MAX = 16384;

    private static final ThreadLocal<NativeBuffer> SCRATCH = ThreadLocal.withInitial(() -> NativeBuffer.allocate(XSTATE_MAX + 64));
    /**
     * The same buffer seen as longs, for register sets copied in one bulk call: 27 getLong/putLong calls each way
     * cost about 10 us per request in an interpreted (cold) run, a few per thread of a frozen process.
     */
    private static final ThreadLocal<java.nio.LongBuffer> WORDS = ThreadLocal.withInitial(() -> SCRATCH.get().buffer()
            .duplicate().order(java.nio.ByteOrder.nativeOrder()).asLongBuffer());

    private Ptrace() {
    }

    static final int SYS_PTRACE = 101;

    /** Every request used here is a PTRACE_PEEK*-free one, for which the raw syscall and libc's wrapper agree. */
    private static long req(String name, long request, int pid, long addr, long data) throws SyscallException {
        long r = Syscall.raw(SYS_PTRACE, request, pid, addr, data);
        if (r < 0 && r >= -4095) {
            throw new SyscallException("ptrace(" + name + ", " + pid + ")", (int) -r);
        }
        return r;
    }

    /** Makes this thread's buffers now (before a freeze), so that the frozen window does not. */
    public static void prepareThread() {
        SCRATCH.get();
        WORDS.get();
        STATUS.get();
    }

    public static void seize(int pid, int options) throws SyscallException {
        req("SEIZE", SEIZE, pid, 0, options);
    }

    public static void interrupt(int pid) throws SyscallException {
        req("INTERRUPT", INTERRUPT, pid, 0, 0);
    }

    public static void cont(int pid, int signal) throws SyscallException {
        req("CONT", CONT, pid, 0, signal);
    }

    public static void syscall(int pid, int signal) throws SyscallException {
        req("SYSCALL", SYSCALL, pid, 0, signal);
    }

    /** Runs one instruction (a {@code syscall} one: the whole call), then stops with SIGTRAP (TRAP_BRKPT). */
    public static void singlestep(int pid, int signal) throws SyscallException {
        req("SINGLESTEP", SINGLESTEP, pid, 0, signal);
    }

    public static void detach(int pid, int signal) throws SyscallException {
        req("DETACH", DETACH, pid, 0, signal);
    }

    public static long eventMessage(int pid) throws SyscallException {
        NativeBuffer b = SCRATCH.get();
        req("GETEVENTMSG", GETEVENTMSG, pid, 0, b.address());
        return b.getLong(0);
    }

    public static Registers registers(int pid) throws SyscallException {
        NativeBuffer b = SCRATCH.get();
        req("GETREGS", GETREGS, pid, 0, b.address());
        long[] w = new long[Registers.COUNT];
        WORDS.get().get(0, w);
        return Registers.adopt(w);
    }

    public static void setRegisters(int pid, Registers regs) throws SyscallException {
        NativeBuffer b = SCRATCH.get();
        WORDS.get().put(0, regs.words);
        req("SETREGS", SETREGS, pid, 0, b.address());
    }

    /** The task's whole xsave area in the standard (non-compacted) format; its length is the kernel's size. */
    public static byte[] xstate(int pid) throws SyscallException {
        NativeBuffer b = SCRATCH.get();
        int iov = XSTATE_MAX;
        b.putLong(iov, b.address());
        b.putLong(iov + 8, XSTATE_MAX);
        req("GETREGSET NT_X86_XSTATE", GETREGSET, pid, NT_X86_XSTATE, b.address() + iov);
        int len = (int) b.getLong(iov + 8);
        return b.bytes(0, len);
    }

    public static void setXstate(int pid, byte[] xsave) throws SyscallException {
        NativeBuffer b = SCRATCH.get();
        int iov = XSTATE_MAX;
        b.put(0, xsave);
        b.putLong(iov, b.address());
        b.putLong(iov + 8, xsave.length);
        req("SETREGSET NT_X86_XSTATE", SETREGSET, pid, NT_X86_XSTATE, b.address() + iov);
    }

    public static long sigmask(int pid) throws SyscallException {
        NativeBuffer b = SCRATCH.get();
        req("GETSIGMASK", GETSIGMASK, pid, 8, b.address());
        return b.getLong(0);
    }

    public static void setSigmask(int pid, long mask) throws SyscallException {
        NativeBuffer b = SCRATCH.get();
        b.putLong(0, mask);
        req("SETSIGMASK", SETSIGMASK, pid, 8, b.address());
    }

    /**
     * Pending signals without dequeuing them: the task's private queue, or the process's shared one.
     * Each siginfo is 128 bytes as the kernel reports it.
     */
    public static java.util.List<byte[]> pendingSignals(int pid, boolean shared) throws SyscallException {
        NativeBuffer b = SCRATCH.get();
        java.util.List<byte[]> out = new java.util.ArrayList<>();
        int chunk = 32;
        int args = XSTATE_MAX;
        while (true) {
            b.putLong(args, out.size());
            b.putInt(args + 8, shared ? 1 : 0);
            b.putInt(args + 12, chunk);
            long n = req("PEEKSIGINFO", PEEKSIGINFO, pid, b.address() + args, b.address());
            for (int i = 0; i < n; i++) {
                out.add(b.bytes(i * 128, 128));
            }
            if (n < chunk) {
                return out;
            }
        }
    }

    /** rseq registration: abi pointer, length, flags, signature; null when the kernel has none. */
    public static RseqConfig rseqConfiguration(int pid) throws SyscallException {
        NativeBuffer b = SCRATCH.get();
        b.zero(0, 32);
        long n = req("GET_RSEQ_CONFIGURATION", GET_RSEQ_CONFIGURATION, pid, 24, b.address());
        if (n < 24) {
            return null;
        }
        return new RseqConfig(b.getLong(0), b.getInt(8) & 0xffffffffL, b.getInt(16), b.getInt(12));
    }

    static final int SYS_WAIT4 = 61, EINTR = 4;
    private static final ThreadLocal<NativeBuffer> STATUS = ThreadLocal.withInitial(() -> NativeBuffer.allocate(8));

    /** Waits for a state change of exactly {@code pid}, traced or not. */
    public static WaitStatus waitFor(int pid) throws SyscallException {
        NativeBuffer status = STATUS.get();
        while (true) {
            long r = Syscall.raw(SYS_WAIT4, pid, status.address(), WALL, 0);
            if (r == -EINTR) {
                continue;
            }
            if (r < 0) {
                throw new SyscallException("waitpid(" + pid + ")", (int) -r);
            }
            return new WaitStatus((int) r, status.getInt(0));
        }
    }

    /** Non-blocking wait: null when nothing changed. */
    public static WaitStatus poll(int pid) throws SyscallException {
        NativeBuffer status = STATUS.get();
        long r = Syscall.raw(SYS_WAIT4, pid, status.address(), WALL | 1 /* WNOHANG */, 0);
        if (r < 0) {
            throw new SyscallException("waitpid(" + pid + ")", (int) -r);
        }
        return r == 0 ? null : new WaitStatus((int) r, status.getInt(0));
    }

    /** The kernel's rseq registration of a task. */
    public record RseqConfig(long abiPointer, long abiSize, int flags, int signature) {
    }
}
