package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

/** A socket the engine holds: its own, or a target's taken with pidfd_getfd (the same open file description). */
public final class SocketFd implements AutoCloseable {
    public static final int SOL_SOCKET = 1, SO_REUSEADDR = 2, SO_TYPE = 3, SO_SNDBUF = 7, SO_RCVBUF = 8,
            SO_KEEPALIVE = 9, SO_LINGER = 13, SO_REUSEPORT = 15, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21,
            SO_SNDBUFFORCE = 32, SO_RCVBUFFORCE = 33, SO_ACCEPTCONN = 30, SO_PROTOCOL = 38, SO_DOMAIN = 39, SO_PEEK_OFF = 42;
    public static final int IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_IPV6 = 41, IPV6_V6ONLY = 26;
    public static final int SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_SEQPACKET = 5;
    public static final int MSG_PEEK = 2, MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;
    static final int FIONREAD = 0x541B, TIOCOUTQ = 0x5411, SIOCOUTQNSD = 0x894B;

    private final int fd;
    private boolean closed;

    private SocketFd(int fd) {
        this.fd = fd;
    }

    /** The target's fd, taken into the engine. */
    public static SocketFd take(int pid, int targetFd) throws SyscallException {
        int pidfd = (int) Syscall.call("pidfd_open(" + pid + ")", Syscall.PIDFD_OPEN, pid, 0);
        try {
            return new SocketFd((int) Syscall.call("pidfd_getfd(" + pid + ", " + targetFd + ")", Syscall.PIDFD_GETFD,
                    pidfd, targetFd, 0));
        } finally {
            Syscall.raw(Syscall.CLOSE, pidfd);
        }
    }

    public static SocketFd open(int family, int type, int protocol) throws SyscallException {
        return new SocketFd((int) Syscall.call("socket", Syscall.SOCKET, family, type, protocol));
    }

    public static SocketFd[] pair(int type) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(8);
        Syscall.call("socketpair", Syscall.SOCKETPAIR, SockAddr.AF_UNIX, type, 0, b.address());
        return new SocketFd[]{new SocketFd(b.getInt(0)), new SocketFd(b.getInt(4))};
    }

    public int fd() {
        return fd;
    }

    public int getInt(int level, int opt) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(16);
        b.putInt(8, 4);
        Syscall.call("getsockopt(" + level + ", " + opt + ")", Syscall.GETSOCKOPT, fd, level, opt, b.address(), b.address() + 8);
        return b.getInt(0);
    }

    public byte[] getBytes(int level, int opt, int size) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(size + 8);
        b.putInt(size, size);
        Syscall.call("getsockopt(" + level + ", " + opt + ")", Syscall.GETSOCKOPT, fd, level, opt, b.address(), b.address() + size);
        return b.bytes(0, b.getInt(size));
    }

    public void setInt(int level, int opt, int value) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(4);
        b.putInt(0, value);
        Syscall.call("setsockopt(" + level + ", " + opt + ", " + value + ")", Syscall.SETSOCKOPT, fd, level, opt, b.address(), 4);
    }

    public void setBytes(int level, int opt, byte[] value) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(Math.max(1, value.length));
        b.put(0, value);
        Syscall.call("setsockopt(" + level + ", " + opt + ")", Syscall.SETSOCKOPT, fd, level, opt, b.address(), value.length);
    }

    public SockAddr name() throws SyscallException {
        return address(Syscall.GETSOCKNAME, "getsockname");
    }

    /** The peer, or null when not connected. */
    public SockAddr peer() throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(SockAddr.SIZE + 8);
        b.putInt(SockAddr.SIZE, SockAddr.SIZE);
        long r = Syscall.raw(Syscall.GETPEERNAME, fd, b.address(), b.address() + SockAddr.SIZE);
        if (r == -107 /* ENOTCONN */) {
            return null;
        }
        if (r < 0) {
            throw new SyscallException("getpeername", (int) -r);
        }
        return SockAddr.decode(b, b.getInt(SockAddr.SIZE));
    }

    private SockAddr address(int nr, String what) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(SockAddr.SIZE + 8);
        b.putInt(SockAddr.SIZE, SockAddr.SIZE);
        Syscall.call(what, nr, fd, b.address(), b.address() + SockAddr.SIZE);
        return SockAddr.decode(b, b.getInt(SockAddr.SIZE));
    }

    public void bind(SockAddr a) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(SockAddr.SIZE);
        int len = a.encode(b);
        Syscall.call("bind(" + a + ")", Syscall.BIND, fd, b.address(), len);
    }

    public void connect(SockAddr a) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(SockAddr.SIZE);
        int len = a.encode(b);
        Syscall.call("connect(" + a + ")", Syscall.CONNECT, fd, b.address(), len);
    }

    public void listen(int backlog) throws SyscallException {
        Syscall.call("listen", Syscall.LISTEN, fd, backlog);
    }

    public void shutdown(int how) throws SyscallException {
        Syscall.call("shutdown", Syscall.SHUTDOWN, fd, how);
    }

    public int ioctlInt(int request) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(8);
        Syscall.call("ioctl(" + Integer.toHexString(request) + ")", Syscall.IOCTL, fd, request, b.address());
        return b.getInt(0);
    }

    public int inq() throws SyscallException {
        return ioctlInt(FIONREAD);
    }

    public int outq() throws SyscallException {
        return ioctlInt(TIOCOUTQ);
    }

    public int outqNotSent() throws SyscallException {
        return ioctlInt(SIOCOUTQNSD);
    }

    /** Up to {@code len} queued bytes, not consumed. */
    public byte[] peek(int len) throws SyscallException {
        if (len == 0) {
            return new byte[0];
        }
        NativeBuffer b = NativeBuffer.allocate(len);
        long n = Syscall.call("recv(MSG_PEEK)", Syscall.RECVFROM, fd, b.address(), len, MSG_PEEK | MSG_DONTWAIT, 0, 0);
        return b.bytes(0, (int) n);
    }

    public void sendAll(byte[] data) throws SyscallException {
        sendAll(data, 0, data.length);
    }

    public void sendAll(byte[] data, int off, int len) throws SyscallException {
        if (len == 0) {
            return;
        }
        NativeBuffer b = NativeBuffer.allocate(len);
        b.put(0, java.util.Arrays.copyOfRange(data, off, off + len));
        long done = 0;
        while (done < len) {
            // never blocks: a full buffer is an error here, not a wait
            done += Syscall.call("send", Syscall.SENDTO, fd, b.address() + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT, 0, 0);
        }
    }

    /** Sends one datagram to {@code to} (null: the connected peer). */
    public void sendTo(byte[] data, SockAddr to) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(Math.max(1, data.length));
        b.put(0, data);
        if (to == null) {
            Syscall.call("send", Syscall.SENDTO, fd, b.address(), data.length, MSG_NOSIGNAL, 0, 0);
        } else {
            NativeBuffer a = NativeBuffer.allocate(SockAddr.SIZE);
            int len = to.encode(a);
            Syscall.call("sendto(" + to + ")", Syscall.SENDTO, fd, b.address(), data.length, MSG_NOSIGNAL, a.address(), len);
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Syscall.raw(Syscall.CLOSE, fd);
        }
    }
}
