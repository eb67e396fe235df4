package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the kernel tells about one unix socket through sock_diag (what {@code ss -x} shows): its peer, its name,
 * the connections waiting on a listener, its shutdown state. The only interface that names a unix socket's peer.
 * Answers for sockets of the caller's network namespace.
 */
public final class UnixDiag {
    static final int SOCK_DIAG_BY_FAMILY = 20, NLMSG_ERROR = 2;
    static final int UDIAG_SHOW_NAME = 1, UDIAG_SHOW_VFS = 2, UDIAG_SHOW_PEER = 4, UDIAG_SHOW_ICONS = 8,
            UDIAG_SHOW_RQLEN = 0x10;
    static final int UNIX_DIAG_NAME = 0, UNIX_DIAG_VFS = 1, UNIX_DIAG_PEER = 2, UNIX_DIAG_ICONS = 3,
            UNIX_DIAG_RQLEN = 4, UNIX_DIAG_SHUTDOWN = 6;

    /**
     * @param name     the bound name as sun_path bytes (abstract names start with 0), empty when unnamed
     * @param peer     the peer's inode, 0 when not connected
     * @param rqueue   for a listener, the connections not yet accepted; otherwise bytes queued to read
     * @param wqueue   for a listener, its backlog
     * @param pending  inodes of connections waiting on a listener
     * @param shutdown RCV_SHUTDOWN (1) | SEND_SHUTDOWN (2)
     * @param vfsIno   inode of the socket file a path name points at, 0 for none
     */
    public record Info(long ino, int type, int state, byte[] name, long peer, int rqueue, int wqueue,
                       List<Long> pending, int shutdown, long vfsIno) {
        public boolean named() {
            return name.length > 0;
        }

        public SockAddr address() {
            return new SockAddr(SockAddr.AF_UNIX, name, 0);
        }
    }

    private UnixDiag() {
    }

    public static Info of(long ino) throws SyscallException {
        try (SocketFd nl = open()) {
            return of(nl, ino);
        }
    }

    /** A sock_diag socket of the caller's network namespace, to ask {@link #of(SocketFd, long)} with. */
    public static SocketFd open() throws SyscallException {
        return SocketFd.open(SockDestroy.AF_NETLINK, SocketFd.SOCK_DGRAM | 02000000, SockDestroy.NETLINK_SOCK_DIAG);
    }

    /** Asks through {@code nl} (a socket of {@link #open}, of the namespace the socket lives in). */
    public static Info of(SocketFd nl, long ino) throws SyscallException {
        NativeBuffer m = NativeBuffer.allocate(40);
        m.putInt(0, 40);
        m.putInt(4, SOCK_DIAG_BY_FAMILY | SockDestroy.NLM_F_REQUEST << 16);
        m.putInt(8, 1);
        m.put(16, new byte[]{SockAddr.AF_UNIX, 0, 0, 0});
        m.putInt(20, -1);
        m.putInt(24, (int) ino);
        m.putInt(28, UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN);
        m.putInt(32, -1);
        m.putInt(36, -1);
        Syscall.call("send(unix_diag " + ino + ")", Syscall.SENDTO, nl.fd(), m.address(), 40, 0, 0, 0);
        NativeBuffer r = REPLY.get();
        long n = Syscall.call("recv(unix_diag " + ino + ")", Syscall.RECVFROM, nl.fd(), r.address(), 65536, 0, 0, 0);
        int type = r.getInt(4) & 0xffff;
        if (type == NLMSG_ERROR) {
            throw new SyscallException("unix_diag socket:[" + ino + "]", -r.getInt(16));
        }
        return parse(r, (int) Math.min(n, r.getInt(0)));
    }

    /** Each thread's reply buffer: a fresh 64 KiB a question costs 16 page faults, ~160 µs here. */
    private static final ThreadLocal<NativeBuffer> REPLY = ThreadLocal.withInitial(() -> NativeBuffer.allocate(65536));

    private static Info parse(NativeBuffer r, int len) {
        byte[] head = r.bytes(16, 4);
        int type = head[1] & 0xff, state = head[2] & 0xff;
        long ino = Integer.toUnsignedLong(r.getInt(20));
        byte[] name = new byte[0];
        long peer = 0, vfsIno = 0;
        int rq = 0, wq = 0, shutdown = 0;
        List<Long> pending = new ArrayList<>();
        int at = 32;
        while (at + 4 <= len) {
            byte[] h = r.bytes(at, 4);
            int alen = (h[0] & 0xff) | (h[1] & 0xff) << 8, atype = (h[2] & 0xff) | (h[3] & 0xff) << 8;
            if (alen < 4) {
                break;
            }
            int data = at + 4, dlen = alen - 4;
            switch (atype) {
                case UNIX_DIAG_NAME -> name = trimPath(r.bytes(data, dlen));
                case UNIX_DIAG_VFS -> vfsIno = Integer.toUnsignedLong(r.getInt(data));
                case UNIX_DIAG_PEER -> peer = Integer.toUnsignedLong(r.getInt(data));
                case UNIX_DIAG_ICONS -> {
                    for (int i = 0; i + 4 <= dlen; i += 4) {
                        pending.add(Integer.toUnsignedLong(r.getInt(data + i)));
                    }
                }
                case UNIX_DIAG_RQLEN -> {
                    rq = r.getInt(data);
                    wq = r.getInt(data + 4);
                }
                case UNIX_DIAG_SHUTDOWN -> shutdown = r.bytes(data, 1)[0] & 0xff;
                default -> {
                }
            }
            at += (alen + 3) & ~3;
        }
        return new Info(ino, type, state, name, peer, rq, wq, List.copyOf(pending), shutdown, vfsIno);
    }

    /** A path name without its trailing NULs; abstract names keep every byte. */
    public static byte[] trimPath(byte[] name) {
        if (name.length == 0 || name[0] == 0) {
            return name;
        }
        int n = name.length;
        while (n > 0 && name[n - 1] == 0) {
            n--;
        }
        return Arrays.copyOf(name, n);
    }
}
