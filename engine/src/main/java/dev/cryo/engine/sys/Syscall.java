package dev.cryo.engine.sys;

/** Syscall numbers (x86_64) and a checked wrapper that turns -1/errno into {@link SyscallException}. */
public final class Syscall {
    public static final int READ = 0, WRITE = 1, OPEN = 2, CLOSE = 3, FSTAT = 5, LSEEK = 8, MMAP = 9, MPROTECT = 10,
            MUNMAP = 11, BRK = 12, RT_SIGACTION = 13, RT_SIGPROCMASK = 14, IOCTL = 16, PREAD64 = 17, PWRITE64 = 18,
            MREMAP = 25, MADVISE = 28, DUP2 = 33, GETPID = 39, CLONE = 56, EXIT = 60, WAIT4 = 61, KILL = 62,
            FCNTL = 72, UMASK = 95, SETPGID = 109, GETPPID = 110, SETSID = 112, GETPGID = 121,
            RT_SIGQUEUEINFO = 129, SIGALTSTACK = 131, PERSONALITY = 135, PRCTL = 157, ARCH_PRCTL = 158,
            GETTID = 186, SET_TID_ADDRESS = 218, TGKILL = 234, OPENAT = 257, TEE = 276, DUP3 = 292, PIPE2 = 293,
            RT_TGSIGQUEUEINFO = 297, PRLIMIT64 = 302, PROCESS_VM_READV = 310, PROCESS_VM_WRITEV = 311, KCMP = 312,
            USERFAULTFD = 323, RSEQ = 334, PIDFD_SEND_SIGNAL = 424, PIDFD_OPEN = 434, CLONE3 = 435,
            CLOSE_RANGE = 436, PIDFD_GETFD = 438;
    /** Sockets and namespaces (the net package). */
    public static final int SOCKET = 41, CONNECT = 42, SENDTO = 44, RECVFROM = 45, SENDMSG = 46, RECVMSG = 47,
            SHUTDOWN = 48, BIND = 49, LISTEN = 50, GETSOCKNAME = 51, GETPEERNAME = 52, SOCKETPAIR = 53,
            SETSOCKOPT = 54, GETSOCKOPT = 55, GETXATTR = 191, SETNS = 308;

    private Syscall() {
    }

    /** Calls {@code nr}; returns its result, or throws with the errno named. */
    public static long call(String what, long nr, long... args) throws SyscallException {
        long[] a = new long[6];
        System.arraycopy(args, 0, a, 0, Math.min(args.length, 6));
        long r = LibC.INSTANCE.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        if (r == -1) {
            throw new SyscallException(what, LibC.errno());
        }
        return r;
    }

    /** Calls {@code nr}; returns its result, or {@code -errno} (the kernel's own convention). */
    public static long raw(long nr, long... args) {
        long[] a = new long[6];
        System.arraycopy(args, 0, a, 0, Math.min(args.length, 6));
        long r = LibC.INSTANCE.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        return r == -1 ? -LibC.errno() : r;
    }
}
