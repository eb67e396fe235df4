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

    /**
     * A socket of the network namespace task {@code pid} (as Cryo numbers it) lives in: a socket belongs to the
     * namespace it was made in, and a container's tasks may live in one of their own (or one their runtime gave
     * back, --external net). Made on a thread that entered it when it is not Cryo's.
     */
    public static SocketFd openFor(int pid, int family, int type, int protocol) throws SyscallException {
        return inNetNamespaceOf(pid, "socket", () -> open(family, type, protocol));
    }

    /** {@link #pair} in the network namespace task {@code pid} lives in ({@link #openFor}). */
    public static SocketFd[] pairFor(int pid, int type) throws SyscallException {
        return inNetNamespaceOf(pid, "socketpair", () -> pair(type));
    }

    /** {@code make} run here when task {@code pid} shares this thread's network namespace, else on a thread in its. */
    private static <T> T inNetNamespaceOf(int pid, String what, java.util.concurrent.Callable<T> make)
            throws SyscallException {
        java.nio.file.Path ns = NetNamespace.of(pid);
        try {
            if (java.nio.file.Files.readSymbolicLink(ns).equals(
                    java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/thread-self/ns/net")))) {
                return make.call();
            }
            return NetNamespace.call(ns, make);
        } catch (SyscallException e) {
            throw e;
        } catch (Exception e) {
            throw new SyscallException(what + " in the network namespace of pid " + pid + " (" + e.getMessage() + ")",
                    3 /* ESRCH */);
        }
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
    /** Whether it has a peer (getpeername answers): a stream socket that never connected has none, nor a queue. */
    public boolean connected() {
        NativeBuffer b = NativeBuffer.allocate(SockAddr.SIZE + 8);
        b.putInt(SockAddr.SIZE, SockAddr.SIZE);
        return Syscall.raw(Syscall.GETPEERNAME, fd, b.address(), b.address() + SockAddr.SIZE) != -107 /* ENOTCONN */;
    }

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

    /** Starts a connection without waiting for it (the socket is made non-blocking for the call): EINPROGRESS is success. */
    public void connectStarting(SockAddr a) throws SyscallException {
        long flags = Syscall.call("fcntl(F_GETFL)", Syscall.FCNTL, fd, 3 /* F_GETFL */);
        Syscall.call("fcntl(F_SETFL)", Syscall.FCNTL, fd, 4 /* F_SETFL */, flags | 04000 /* O_NONBLOCK */);
        try {
            connect(a);
        } catch (SyscallException e) {
            if (e.errno() != 115 /* EINPROGRESS */) {
                throw e;
            }
        } finally {
            Syscall.call("fcntl(F_SETFL)", Syscall.FCNTL, fd, 4 /* F_SETFL */, flags);
        }
    }

    public void listen(int backlog) throws SyscallException {
        Syscall.call("listen", Syscall.LISTEN, fd, backlog);
    }

    static final int ACCEPT4 = 288;

    /** Accepts a waiting connection (the caller knows one is there). */
    public SocketFd accept() throws SyscallException {
        return new SocketFd((int) Syscall.call("accept4", ACCEPT4, fd, 0, 0, 02000000));
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

    /** recv(MSG_PEEK) of up to {@code len} bytes to {@code address}; how many came. */
    public long peekInto(long address, int len) throws SyscallException {
        return Syscall.call("recv(MSG_PEEK)", Syscall.RECVFROM, fd, address, len, MSG_PEEK | MSG_DONTWAIT, 0, 0);
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

    /** One message (or, on a stream, a run of bytes) seen with MSG_PEEK, and the descriptors it carries. */
    public record Peeked(byte[] data, int[] fds, boolean truncated, SockAddr from) {
    }

    public static final int SCM_RIGHTS = 1;
    static final int MSG_TRUNC = 0x20, MSG_CMSG_CLOEXEC = 0x40000000, EAGAIN = 11;

    /**
     * Peeks the next message into a buffer of {@code max} bytes; null when nothing is queued. Descriptors passed
     * with SCM_RIGHTS arrive as new fds of this process (close-on-exec), which the caller closes.
     */
    public Peeked peekMessage(NativeBuffer data, int max) throws SyscallException {
        NativeBuffer msg = NativeBuffer.allocate(56 + 16 + 4096 + SockAddr.SIZE);
        long iov = msg.address() + 56, control = msg.address() + 72;
        int nameAt = 72 + 4096;
        msg.putLong(0, msg.address() + nameAt);
        msg.putInt(8, SockAddr.SIZE);
        msg.putLong(56, data.address());
        msg.putLong(64, max);
        msg.putLong(16, iov);
        msg.putLong(24, 1);
        msg.putLong(32, control);
        msg.putLong(40, 4096);
        long n = Syscall.raw(Syscall.RECVMSG, fd, msg.address(), MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
        if (n == -EAGAIN) {
            return null;
        }
        if (n < 0) {
            throw new SyscallException("recvmsg(MSG_PEEK)", (int) -n);
        }
        int flags = msg.getInt(48);
        long controlLen = msg.getLong(40);
        java.util.List<Integer> fds = new java.util.ArrayList<>();
        int at = 72;
        while (at + 16 <= 72 + controlLen) {
            long clen = msg.getLong(at);
            int level = msg.getInt(at + 8), type = msg.getInt(at + 12);
            if (clen < 16) {
                break;
            }
            if (level == SOL_SOCKET && type == SCM_RIGHTS) {
                for (int i = 16; i + 4 <= clen; i += 4) {
                    fds.add(msg.getInt(at + i));
                }
            }
            at += (int) ((clen + 7) & ~7L);
        }
        int got = (int) Math.min(n, max);
        int nameLen = msg.getInt(8);
        SockAddr from = null;
        if (nameLen > 2) {
            NativeBuffer a = NativeBuffer.allocate(SockAddr.SIZE);
            a.put(0, msg.bytes(nameAt, nameLen));
            from = SockAddr.decode(a, nameLen);
        }
        return new Peeked(data.bytes(0, got), fds.stream().mapToInt(i -> i).toArray(), (flags & MSG_TRUNC) != 0 || n > max,
                from);
    }

    /**
     * Sends {@code data} with {@code fds} attached as SCM_RIGHTS, to {@code to} (null: the peer); never blocks.
     * Returns the bytes sent (a stream may take fewer).
     */
    public int sendMessage(byte[] data, int[] fds, SockAddr to) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(Math.max(1, data.length));
        b.put(0, data);
        NativeBuffer msg = NativeBuffer.allocate(56 + 16 + SockAddr.SIZE + 16 + 4 * fds.length + 8);
        long iov = msg.address() + 56;
        int nameAt = 72, controlAt = 72 + SockAddr.SIZE;
        msg.putLong(56, b.address());
        msg.putLong(64, data.length);
        msg.putLong(16, iov);
        msg.putLong(24, 1);
        if (to != null) {
            NativeBuffer a = NativeBuffer.allocate(SockAddr.SIZE);
            int len = to.encode(a);
            msg.put(nameAt, a.bytes(0, len));
            msg.putLong(0, msg.address() + nameAt);
            msg.putInt(8, len);
        }
        if (fds.length > 0) {
            msg.putLong(controlAt, 16 + 4L * fds.length);
            msg.putInt(controlAt + 8, SOL_SOCKET);
            msg.putInt(controlAt + 12, SCM_RIGHTS);
            for (int i = 0; i < fds.length; i++) {
                msg.putInt(controlAt + 16 + 4 * i, fds[i]);
            }
            msg.putLong(32, msg.address() + controlAt);
            msg.putLong(40, (16 + 4L * fds.length + 7) & ~7L);
        }
        return (int) Syscall.call("sendmsg(" + data.length + " bytes, " + fds.length + " fds)", Syscall.SENDMSG, fd,
                msg.address(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Syscall.raw(Syscall.CLOSE, fd);
        }
    }
}
