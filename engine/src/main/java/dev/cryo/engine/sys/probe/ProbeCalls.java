package dev.cryo.engine.sys.probe;

import dev.cryo.engine.sys.LibC;
import dev.cryo.engine.sys.SyscallException;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

import java.nio.charset.StandardCharsets;

/**
 * The raw calls the probes make: syscall numbers and constants they need, native memory, and the
 * kernel's {@code -errno} convention. Kept apart from {@code sys.Syscall} so the probes do not depend on
 * what the engine's own boundary grows into.
 */
final class ProbeCalls {
    static final int CLOSE = 3, MMAP = 9, MUNMAP = 11, IOCTL = 16, GETPID = 39, SOCKET = 41, SETSOCKOPT = 54,
            GETSOCKOPT = 55, WAIT4 = 61, KILL = 62, FCNTL = 72, PRCTL = 157, EXIT_GROUP = 231, OPENAT = 257,
            KCMP = 312, USERFAULTFD = 323, PIDFD_OPEN = 434, CLONE3 = 435, PIDFD_GETFD = 438;

    static final int EPERM = 1, ENOENT = 2, EINTR = 4, EBADF = 9, EFAULT = 14, EEXIST = 17, EINVAL = 22,
            ENOTTY = 25, ENOSYS = 38, ENOPROTOOPT = 92, E2BIG = 7, EIO = 5;

    static final int AT_FDCWD = -100, O_RDONLY = 0, O_RDWR = 2, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    static final int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20;
    static final int SIGKILL = 9, SIGCHLD = 17, WALL = 0x40000000;
    static final long PAGE = 4096;

    private ProbeCalls() {
    }

    /** A syscall's result, or {@code -errno} as the kernel itself reports failure. */
    static long sys(long nr, long... args) {
        long[] a = new long[6];
        System.arraycopy(args, 0, a, 0, Math.min(args.length, 6));
        long r = LibC.INSTANCE.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        return r == -1 ? -LibC.errno() : r;
    }

    /** The errno's symbolic name and text, e.g. "EEXIST (File exists)". */
    static String errno(long negative) {
        return SyscallException.describe((int) -negative);
    }

    static Pointer memory(int size) {
        return Memory.allocateDirect(LibC.RUNTIME, size, true);
    }

    static Pointer at(long address) {
        return Pointer.wrap(LibC.RUNTIME, address);
    }

    static Pointer cString(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        Pointer p = memory(b.length + 1);
        p.put(0, b, 0, b.length);
        p.putByte(b.length, (byte) 0);
        return p;
    }

    static long open(String path, int flags) {
        Pointer name = cString(path);
        long fd = sys(OPENAT, AT_FDCWD, name.address(), flags | O_CLOEXEC, 0);
        java.lang.ref.Reference.reachabilityFence(name); // the string must outlive the call that reads it
        return fd;
    }

    static void close(long fd) {
        if (fd >= 0) {
            sys(CLOSE, fd);
        }
    }

    /** A private anonymous read-write mapping's address, or {@code -errno}. */
    static long mapAnonymous(long length) {
        return sys(MMAP, 0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }

    static void unmap(long address, long length) {
        if (address > 0) {
            sys(MUNMAP, address, length);
        }
    }

    static long ioctl(long fd, long request, Pointer arg) {
        return sys(IOCTL, fd, request, arg.address());
    }
}
