package dev.cryo.engine.resource;

import dev.cryo.engine.net.SocketFd;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Cryo's fd into a task that cannot name Cryo: a task of a container lives in a pid namespace where Cryo has no pid,
 * so its remote {@code pidfd_open(cryo)} cannot work. Instead the task makes a socketpair, Cryo takes one end
 * (pidfd_getfd from outside, where the task's host pid is known), sends the fd over it with SCM_RIGHTS, and the task
 * receives it on the other end: the same open file description, as pidfd_getfd gives.
 */
public final class FdPassing {
    static final int AF_UNIX = 1, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0x80000, MSG_CMSG_CLOEXEC = 0x40000000;
    /** Bytes of the scratch page used: sockets (8), msghdr (56), iovec (16), one data byte (8), control (24). */
    public static final int SCRATCH = 112;

    private FdPassing() {
    }

    /** Cryo's copy of fd {@code fd} of {@code pid} (the same open file description), to be closed by the caller. */
    static int copyOf(int pid, int fd) throws SyscallException {
        int pidfd = (int) Syscall.call("pidfd_open(" + pid + ")", Syscall.PIDFD_OPEN, pid, 0);
        try {
            return (int) Syscall.call("pidfd_getfd(" + pid + ", " + fd + ")", Syscall.PIDFD_GETFD, pidfd, fd, 0);
        } finally {
            Syscall.raw(Syscall.CLOSE, pidfd);
        }
    }

    /** Whether task {@code pid} lives in another pid namespace than Cryo's (a container's). */
    public static boolean needed(int pid) {
        try {
            return !Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/pid"))
                    .equals(Files.readSymbolicLink(Path.of("/proc/self/ns/pid")));
        } catch (IOException e) {
            return false; // the remote pidfd_open then says what is wrong
        }
    }

    /**
     * As {@link #give(int, RemoteSyscall, RemoteScratch, int, int)}, with a page of its own mapped in the task for the
     * call and unmapped after it (for callers without a scratch page at hand).
     */
    public static int give(int pid, RemoteSyscall remote, int mine) throws SyscallException {
        RemoteScratch page = RemoteScratch.map(new dev.cryo.engine.mem.RemoteMemory(pid), remote, 0, 4096);
        try {
            return give(pid, remote, page, 0, mine);
        } finally {
            page.release();
        }
    }

    /**
     * Puts Cryo's fd {@code mine} into task {@code pid} (host pid); returns its number there (close-on-exec set).
     * Uses {@link #SCRATCH} bytes of the task's scratch page at {@code offset}.
     */
    public static int give(int pid, RemoteSyscall remote, RemoteScratch scratch, int offset, int mine)
            throws SyscallException {
        long base = scratch.address() + offset;
        remote.call("socketpair", Syscall.SOCKETPAIR, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, base);
        ByteBuffer ends = ByteBuffer.wrap(scratch.read(offset, 8)).order(ByteOrder.LITTLE_ENDIAN);
        int in = ends.getInt(0), out = ends.getInt(4);
        try (SocketFd sender = SocketFd.take(pid, out)) {
            sender.sendMessage(new byte[]{0}, new int[]{mine}, null);
            NativeBuffer msg = NativeBuffer.allocate(SCRATCH - 8);
            msg.zero(0, SCRATCH - 8);
            long iov = base + 8 + 56, data = iov + 16, control = data + 8;
            msg.putLong(16, iov);       // msg_iov
            msg.putLong(24, 1);         // msg_iovlen
            msg.putLong(32, control);   // msg_control
            msg.putLong(40, 24);        // msg_controllen: one cmsghdr and one fd, aligned
            msg.putLong(56, data);      // iov_base
            msg.putLong(64, 1);         // iov_len
            scratch.write(offset + 8, msg.bytes(0, SCRATCH - 8));
            remote.call("recvmsg(SCM_RIGHTS)", Syscall.RECVMSG, in, base + 8, MSG_CMSG_CLOEXEC);
            ByteBuffer c = ByteBuffer.wrap(scratch.read(offset + 8 + 56 + 16 + 8, 24)).order(ByteOrder.LITTLE_ENDIAN);
            if (c.getLong(0) < 20 || c.getInt(8) != 1 /* SOL_SOCKET */ || c.getInt(12) != SocketFd.SCM_RIGHTS) {
                throw new SyscallException("recvmsg in pid " + pid + " received no fd", 5 /* EIO */);
            }
            return c.getInt(16);
        } finally {
            remote.raw(Syscall.CLOSE, in);
            remote.raw(Syscall.CLOSE, out);
        }
    }
}
