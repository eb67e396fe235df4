package dev.cryo.engine.mem;

import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.util.ArrayList;
import java.util.List;

/**
 * A userfaultfd of a process in the making, held by Cryo, used to fill its empty private anonymous VMAs with
 * UFFDIO_COPY: the kernel allocates each page and copies into it, where process_vm_writev would first fault
 * in a zeroed page and then copy. Closing it unregisters every range, so the VMAs end as they were mapped.
 */
public final class UffdCopy implements AutoCloseable {
    static final long UFFD_API = 0xAA, UFFDIO_API = 0xC018AA3FL, UFFDIO_REGISTER = 0xC020AA00L,
            UFFDIO_UNREGISTER = 0x8010AA01L, UFFDIO_COPY = 0xC028AA03L;
    static final long REGISTER_MODE_MISSING = 1, COPY_MODE_DONTWAKE = 1;
    static final int O_CLOEXEC = 0x80000, UFFD_USER_MODE_ONLY = 1;
    static final int EAGAIN = 11;

    private final int fd;
    private final int pid;
    private final List<long[]> registered = new ArrayList<>();
    private boolean closed;

    private UffdCopy(int fd, int pid) {
        this.fd = fd;
        this.pid = pid;
    }

    /**
     * Makes a userfaultfd in the stopped process behind {@code remote} (a userfaultfd works on the memory of
     * the process that made it), takes a copy of the fd, and closes the process's own.
     */
    public static UffdCopy open(RemoteSyscall remote) throws SyscallException {
        int pid = remote.pid();
        long remoteFd = remote.raw(Syscall.USERFAULTFD, O_CLOEXEC | UFFD_USER_MODE_ONLY);
        if (remoteFd == -22) { // EINVAL: a kernel before 5.11 knows no UFFD_USER_MODE_ONLY
            remoteFd = remote.raw(Syscall.USERFAULTFD, O_CLOEXEC);
        }
        if (remoteFd < 0) {
            throw new SyscallException("remote userfaultfd in pid " + pid, (int) -remoteFd);
        }
        int local = -1;
        try {
            long pidfd = Syscall.call("pidfd_open(" + pid + ")", Syscall.PIDFD_OPEN, pid, 0);
            try {
                local = (int) Syscall.call("pidfd_getfd(" + pid + ", " + remoteFd + ")", Syscall.PIDFD_GETFD, pidfd, remoteFd, 0);
            } finally {
                Syscall.raw(Syscall.CLOSE, pidfd);
            }
            remote.call("close", Syscall.CLOSE, remoteFd);
        } catch (SyscallException e) {
            remote.raw(Syscall.CLOSE, remoteFd); // a second close of a closed fd only says EBADF
            if (local >= 0) {
                Syscall.raw(Syscall.CLOSE, local);
            }
            throw e;
        }
        return handshake(local, pid);
    }

    /** A userfaultfd on Cryo's own memory (what tests copy into). */
    static UffdCopy ofSelf() throws SyscallException {
        int fd = (int) Syscall.call("userfaultfd", Syscall.USERFAULTFD, O_CLOEXEC);
        return handshake(fd, (int) Syscall.raw(Syscall.GETPID));
    }

    private static UffdCopy handshake(int fd, int pid) throws SyscallException {
        NativeBuffer api = NativeBuffer.allocate(24);
        api.putLong(0, UFFD_API);
        try {
            Syscall.call("UFFDIO_API on the userfaultfd of pid " + pid, Syscall.IOCTL, fd, UFFDIO_API, api.address());
        } catch (SyscallException e) {
            Syscall.raw(Syscall.CLOSE, fd);
            throw e;
        }
        return new UffdCopy(fd, pid);
    }

    /** Registers [start, start+length) for missing-page filling; false when the kernel refuses that VMA. */
    public boolean register(long start, long length) {
        NativeBuffer reg = NativeBuffer.allocate(32);
        reg.putLong(0, start);
        reg.putLong(8, length);
        reg.putLong(16, REGISTER_MODE_MISSING);
        if (Syscall.raw(Syscall.IOCTL, fd, UFFDIO_REGISTER, reg.address()) < 0) {
            return false;
        }
        registered.add(new long[]{start, length});
        return true;
    }

    /**
     * Fills {@code length} bytes at {@code dst} (registered, still empty) from {@code src} in Cryo. Safe from
     * several threads at once; each passes its own {@code arg} of 40 bytes.
     */
    public void copy(long dst, long src, long length, NativeBuffer arg) throws SyscallException {
        long done = 0;
        int retries = 0;
        while (done < length) {
            arg.putLong(0, dst + done);
            arg.putLong(8, src + done);
            arg.putLong(16, length - done);
            arg.putLong(24, COPY_MODE_DONTWAKE);
            arg.putLong(32, 0);
            long r = Syscall.raw(Syscall.IOCTL, fd, UFFDIO_COPY, arg.address());
            long copied = arg.getLong(32); // bytes done, or -errno when none were
            if (copied > 0) {
                done += copied;
                retries = 0;
            }
            if (r < 0 && (r != -EAGAIN || ++retries > 100)) { // EAGAIN: the address space changed meanwhile
                throw new SyscallException("UFFDIO_COPY of " + (length - done) + " bytes to 0x"
                        + Long.toHexString(dst + done) + " in pid " + pid, (int) -r);
            }
        }
    }

    static NativeBuffer copyArg() {
        return NativeBuffer.allocate(40);
    }

    /** Unregisters every range and closes the fd; the VMAs keep the pages copied so far. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        NativeBuffer range = NativeBuffer.allocate(16);
        for (long[] r : registered) {
            range.putLong(0, r[0]);
            range.putLong(8, r[1]);
            Syscall.raw(Syscall.IOCTL, fd, UFFDIO_UNREGISTER, range.address());
        }
        Syscall.raw(Syscall.CLOSE, fd);
    }
}
