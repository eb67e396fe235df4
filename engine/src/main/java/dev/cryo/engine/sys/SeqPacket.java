package dev.cryo.engine.sys;

import java.nio.charset.StandardCharsets;

/**
 * Unix SOCK_SEQPACKET sockets, which the JDK does not offer: the transport of CRIU's RPC. A record is one
 * message; its boundaries are the kernel's, so a message needs no length prefix.
 */
public final class SeqPacket {
    static final int AF_UNIX = 1, SOCK_SEQPACKET = 5, SOCK_CLOEXEC = 0x80000, SOL_SOCKET = 1, SO_PEERCRED = 17,
            MSG_PEEK = 2, MSG_TRUNC = 0x20, MSG_NOSIGNAL = 0x4000, SCM_RIGHTS = 1, ACCEPT4 = 288, UNLINK = 87;
    /** sun_path's size in struct sockaddr_un. */
    static final int SUN_PATH = 108;

    private SeqPacket() {
    }

    /** A connected pair, both ends close-on-exec. */
    public static int[] pair() throws SyscallException {
        NativeBuffer fds = NativeBuffer.allocate(8);
        Syscall.call("socketpair(AF_UNIX, SOCK_SEQPACKET)", Syscall.SOCKETPAIR, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
                0, fds.address());
        return new int[]{fds.getInt(0), fds.getInt(4)};
    }

    /** A listening socket bound to {@code path}; a stale socket file left there by an earlier service is replaced. */
    public static int listen(String path, int backlog) throws SyscallException {
        NativeBuffer addr = address(path);
        int fd = (int) Syscall.call("socket(AF_UNIX, SOCK_SEQPACKET)", Syscall.SOCKET, AF_UNIX,
                SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        try {
            long r = Syscall.raw(Syscall.BIND, fd, addr.address(), 2 + SUN_PATH);
            if (r == -98 /* EADDRINUSE */ && isSocket(path)) {
                Syscall.raw(UNLINK, addr.address() + 2);
                r = Syscall.raw(Syscall.BIND, fd, addr.address(), 2 + SUN_PATH);
            }
            if (r < 0) {
                throw new SyscallException("bind(" + path + ")", (int) -r);
            }
            Syscall.call("listen(" + path + ")", Syscall.LISTEN, fd, backlog);
            return fd;
        } catch (SyscallException e) {
            close(fd);
            throw e;
        }
    }

    /** A connection to the listening socket at {@code path}. */
    public static int connect(String path) throws SyscallException {
        NativeBuffer addr = address(path);
        int fd = (int) Syscall.call("socket(AF_UNIX, SOCK_SEQPACKET)", Syscall.SOCKET, AF_UNIX,
                SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        long r = Syscall.raw(Syscall.CONNECT, fd, addr.address(), 2 + SUN_PATH);
        if (r < 0) {
            close(fd);
            throw new SyscallException("connect(" + path + ")", (int) -r);
        }
        return fd;
    }

    public static int accept(int listener) throws SyscallException {
        return (int) Syscall.call("accept4", ACCEPT4, listener, 0, 0, SOCK_CLOEXEC);
    }

    /** The next record, or null when the peer has closed its end (a record of zero bytes reads the same). */
    public static byte[] receive(int fd) throws SyscallException {
        NativeBuffer probe = NativeBuffer.allocate(8);
        // MSG_TRUNC with MSG_PEEK gives the record's full length without consuming it
        int size = (int) Syscall.call("recv(peek)", Syscall.RECVFROM, fd, probe.address(), 0, MSG_PEEK | MSG_TRUNC, 0, 0);
        if (size == 0) {
            Syscall.raw(Syscall.RECVFROM, fd, probe.address(), 0, 0, 0, 0); // drop an empty record, if it was one
            return null;
        }
        NativeBuffer buffer = NativeBuffer.allocate(size);
        int n = (int) Syscall.call("recv", Syscall.RECVFROM, fd, buffer.address(), size, 0, 0, 0);
        return buffer.bytes(0, n);
    }

    public static void send(int fd, byte[] record) throws SyscallException {
        NativeBuffer buffer = NativeBuffer.allocate(record.length);
        buffer.put(0, record);
        long n = Syscall.call("send", Syscall.SENDTO, fd, buffer.address(), record.length, MSG_NOSIGNAL, 0, 0);
        if (n != record.length) {
            throw new SyscallException("send (short record: " + n + " of " + record.length + " bytes)", 90 /* EMSGSIZE */);
        }
    }

    /** Sends {@code record} with {@code passFd} attached (SCM_RIGHTS): the peer receives its own copy of the fd. */
    public static void sendWithFd(int fd, byte[] record, int passFd) throws SyscallException {
        NativeBuffer m = NativeBuffer.allocate(64 + 16 + 24 + record.length);
        int hdr = 0, iov = 64, ctl = 80, data = 104;
        m.put(data, record);
        m.putLong(iov, m.address() + data);
        m.putLong(iov + 8, record.length);
        m.putLong(ctl, 20);            // cmsg_len: header (16) + one int
        m.putInt(ctl + 8, SOL_SOCKET);
        m.putInt(ctl + 12, SCM_RIGHTS);
        m.putInt(ctl + 16, passFd);
        m.putLong(hdr + 16, m.address() + iov); // msg_iov
        m.putLong(hdr + 24, 1);                  // msg_iovlen
        m.putLong(hdr + 32, m.address() + ctl); // msg_control
        m.putLong(hdr + 40, 24);                 // msg_controllen: CMSG_SPACE(sizeof(int))
        Syscall.call("sendmsg(SCM_RIGHTS)", Syscall.SENDMSG, fd, m.address(), MSG_NOSIGNAL);
    }

    /** The pid of the process at the other end, as the kernel recorded it at connect or socketpair time. */
    public static int peerPid(int fd) throws SyscallException {
        NativeBuffer cred = NativeBuffer.allocate(16);
        NativeBuffer len = NativeBuffer.allocate(8);
        len.putInt(0, 12);
        Syscall.call("getsockopt(SO_PEERCRED)", Syscall.GETSOCKOPT, fd, SOL_SOCKET, SO_PEERCRED, cred.address(),
                len.address());
        return cred.getInt(0);
    }

    /** True when {@code fd} is an open SOCK_SEQPACKET socket. */
    public static boolean isSeqPacket(int fd) {
        NativeBuffer type = NativeBuffer.allocate(8);
        NativeBuffer len = NativeBuffer.allocate(8);
        len.putInt(0, 4);
        long r = Syscall.raw(Syscall.GETSOCKOPT, fd, SOL_SOCKET, 3 /* SO_TYPE */, type.address(), len.address());
        return r == 0 && type.getInt(0) == SOCK_SEQPACKET;
    }

    public static void close(int fd) {
        Syscall.raw(Syscall.CLOSE, fd);
    }

    private static boolean isSocket(String path) {
        try {
            return java.nio.file.Files.readAttributes(java.nio.file.Path.of(path),
                    java.nio.file.attribute.BasicFileAttributes.class).isOther();
        } catch (java.io.IOException e) {
            return false;
        }
    }

    private static NativeBuffer address(String path) throws SyscallException {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        if (p.length >= SUN_PATH) {
            throw new SyscallException("socket address " + path + " (longer than " + (SUN_PATH - 1) + " bytes)",
                    36 /* ENAMETOOLONG */);
        }
        NativeBuffer addr = NativeBuffer.allocate(2 + SUN_PATH);
        addr.buffer().putShort(0, (short) AF_UNIX);
        addr.put(2, p);
        return addr;
    }
}
