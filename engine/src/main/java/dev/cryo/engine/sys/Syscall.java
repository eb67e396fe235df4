package dev.cryo.engine.sys;

/** Syscall numbers (x86_64) and a checked wrapper that turns -1/errno into {@link SyscallException}. */
public final class Syscall {
    public static final int READ = 0, WRITE = 1, OPEN = 2, CLOSE = 3, MMAP = 9, MPROTECT = 10, MUNMAP = 11,
            RT_SIGACTION = 13, RT_SIGPROCMASK = 14, IOCTL = 16, MREMAP = 25, GETPID = 39, CLONE = 56,
            KILL = 62, PRCTL = 157, ARCH_PRCTL = 158, GETTID = 186, RT_TGSIGQUEUEINFO = 297,
            PRLIMIT64 = 302, PROCESS_VM_READV = 310, PROCESS_VM_WRITEV = 311, KCMP = 312,
            USERFAULTFD = 323, RSEQ = 334, PIDFD_OPEN = 434, CLONE3 = 435, PIDFD_GETFD = 438;

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
}
