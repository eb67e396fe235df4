package dev.cryo.engine.sys;

/** Syscall numbers (x86_64) and a checked wrapper that turns -1/errno into {@link SyscallException}. */
public final class Syscall {
    public static final int READ = 0, WRITE = 1, OPEN = 2, CLOSE = 3, FSTAT = 5, LSEEK = 8, MMAP = 9, MPROTECT = 10,
            MUNMAP = 11, BRK = 12, RT_SIGACTION = 13, RT_SIGPROCMASK = 14, IOCTL = 16, PREAD64 = 17, PWRITE64 = 18,
            MREMAP = 25, MADVISE = 28, DUP2 = 33, GETPID = 39, CLONE = 56, EXIT = 60, WAIT4 = 61, KILL = 62,
            FCNTL = 72, UMASK = 95, GETEUID = 107, GETEGID = 108, SETPGID = 109, GETPPID = 110, SETSID = 112, GETPGID = 121,
            RT_SIGQUEUEINFO = 129, SIGALTSTACK = 131, PERSONALITY = 135, PRCTL = 157, ARCH_PRCTL = 158,
            GETTID = 186, SET_TID_ADDRESS = 218, TGKILL = 234, OPENAT = 257, TEE = 276, DUP3 = 292, PIPE2 = 293,
            RT_TGSIGQUEUEINFO = 297, PRLIMIT64 = 302, PROCESS_VM_READV = 310, PROCESS_VM_WRITEV = 311, KCMP = 312,
            USERFAULTFD = 323, RSEQ = 334, PIDFD_SEND_SIGNAL = 424, PIDFD_OPEN = 434, CLONE3 = 435,
            CLOSE_RANGE = 436, PIDFD_GETFD = 438, SPLICE = 275, VMSPLICE = 278, FALLOCATE = 285, FTRUNCATE = 77;
    /** Sockets and namespaces (the net package). */
    public static final int SOCKET = 41, CONNECT = 42, SENDTO = 44, RECVFROM = 45, SENDMSG = 46, RECVMSG = 47,
            SHUTDOWN = 48, BIND = 49, LISTEN = 50, GETSOCKNAME = 51, GETPEERNAME = 52, SOCKETPAIR = 53,
            SETSOCKOPT = 54, GETSOCKOPT = 55, GETXATTR = 191, SETNS = 308;

    private Syscall() {
    }

    /**
     * Calls with up to five arguments go straight to jffi, the layer under JNR-FFI: a JNI call with the longs as
     * they are, where JNR's proxy boxes each argument, looks its invoker up and fills a heap buffer. In a short CLI
     * run the engine's code is interpreted, and that difference is most of a syscall's cost; the frozen window of a
     * dump makes a few hundred of them. Six-argument calls (libc's syscall() then takes a seventh C argument from the
     * stack, which jffi's fast entries do not pass) keep JNR.
     */
    private static final Direct DIRECT = Direct.bind();

    /** Calls {@code nr}; returns its result, or throws with the errno named. */
    public static long call(String what, long nr) throws SyscallException {
        return checked(what, raw(nr, 0, 0, 0, 0, 0));
    }

    public static long call(String what, long nr, long a) throws SyscallException {
        return checked(what, raw(nr, a, 0, 0, 0, 0));
    }

    public static long call(String what, long nr, long a, long b) throws SyscallException {
        return checked(what, raw(nr, a, b, 0, 0, 0));
    }

    public static long call(String what, long nr, long a, long b, long c) throws SyscallException {
        return checked(what, raw(nr, a, b, c, 0, 0));
    }

    public static long call(String what, long nr, long a, long b, long c, long d) throws SyscallException {
        return checked(what, raw(nr, a, b, c, d, 0));
    }

    public static long call(String what, long nr, long a, long b, long c, long d, long e) throws SyscallException {
        return checked(what, raw(nr, a, b, c, d, e));
    }

    public static long call(String what, long nr, long... args) throws SyscallException {
        return checked(what, raw(nr, args));
    }

    private static long checked(String what, long r) throws SyscallException {
        if (r < 0 && r >= -4095) {
            throw new SyscallException(what, (int) -r);
        }
        return r;
    }

    /** Calls {@code nr}; returns its result, or {@code -errno} (the kernel's own convention). */
    public static long raw(long nr) {
        return raw(nr, 0, 0, 0, 0, 0);
    }

    public static long raw(long nr, long a) {
        return raw(nr, a, 0, 0, 0, 0);
    }

    public static long raw(long nr, long a, long b) {
        return raw(nr, a, b, 0, 0, 0);
    }

    public static long raw(long nr, long a, long b, long c) {
        return raw(nr, a, b, c, 0, 0);
    }

    public static long raw(long nr, long a, long b, long c, long d) {
        return raw(nr, a, b, c, d, 0);
    }

    public static long raw(long nr, long a, long b, long c, long d, long e) {
        if (DIRECT == null) {
            return jnr(nr, a, b, c, d, e, 0);
        }
        return DIRECT.syscall(nr, a, b, c, d, e);
    }

    public static long raw(long nr, long... args) {
        long[] a = new long[6];
        System.arraycopy(args, 0, a, 0, Math.min(args.length, 6));
        long wrapper = DIRECT == null ? 0 : DIRECT.wrapperOf(nr);
        if (wrapper != 0) {
            return DIRECT.call(wrapper, a[0], a[1], a[2], a[3], a[4], a[5]);
        }
        return jnr(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    }

    private static long jnr(long nr, long a, long b, long c, long d, long e, long f) {
        long r = LibC.INSTANCE.syscall(nr, a, b, c, d, e, f);
        return r == -1 ? -LibC.errno() : r;
    }

    /**
     * libc's syscall() reached through jffi's six-long JNI entry, errno saved by jffi right after the call. The
     * six-argument syscalls a dump or restore makes go to libc's own wrappers, which take exactly six; a dump then
     * never binds JNR's proxy at all (about 25 ms of a cold start).
     */
    private record Direct(com.kenai.jffi.Invoker invoker, com.kenai.jffi.CallContext context, long function,
                          com.kenai.jffi.LastError lastError, long[] wrappers) {
        /** Syscall numbers with six arguments, and the libc functions that make them. */
        private static final int[] SIX = {MMAP, SENDTO, RECVFROM, PROCESS_VM_READV, PROCESS_VM_WRITEV, SPLICE};
        private static final String[] SIX_NAMES = {"mmap", "sendto", "recvfrom", "process_vm_readv", "process_vm_writev",
                "splice"};

        static Direct bind() {
            try {
                com.kenai.jffi.Type l = com.kenai.jffi.Type.SINT64;
                com.kenai.jffi.CallContext ctx = com.kenai.jffi.CallContext.getCallContext(l,
                        new com.kenai.jffi.Type[]{l, l, l, l, l, l}, com.kenai.jffi.CallingConvention.DEFAULT, true);
                com.kenai.jffi.Library libc = com.kenai.jffi.Library.getDefault();
                long fn = libc.getSymbolAddress("syscall");
                long[] wrappers = new long[SIX.length];
                for (int i = 0; i < SIX.length; i++) {
                    wrappers[i] = libc.getSymbolAddress(SIX_NAMES[i]);
                }
                return fn == 0 ? null : new Direct(com.kenai.jffi.Invoker.getInstance(), ctx, fn,
                        com.kenai.jffi.LastError.getInstance(), wrappers);
            } catch (RuntimeException | LinkageError e) {
                return null; // JNR's path still works
            }
        }

        long syscall(long nr, long a, long b, long c, long d, long e) {
            return call(function, nr, a, b, c, d, e);
        }

        /** libc's wrapper for six-argument syscall {@code nr}, or 0. */
        long wrapperOf(long nr) {
            for (int i = 0; i < SIX.length; i++) {
                if (SIX[i] == nr) {
                    return wrappers[i];
                }
            }
            return 0;
        }

        long call(long fn, long a, long b, long c, long d, long e, long f) {
            long r = invoker.invokeN6(context, fn, a, b, c, d, e, f);
            return r == -1 ? -lastError.get() : r;
        }
    }
}
