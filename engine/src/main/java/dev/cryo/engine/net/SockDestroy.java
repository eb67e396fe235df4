package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

/**
 * Aborts a TCP connection the way {@code ss -K} does (sock_diag SOCK_DESTROY): the owner's next call fails with
 * ECONNABORTED and the peer gets a RST. Runs in the caller's network namespace.
 */
public final class SockDestroy {
    static final int AF_NETLINK = 16, NETLINK_SOCK_DIAG = 4, SOCK_DESTROY = 21, NLM_F_REQUEST = 1, NLM_F_ACK = 4;

    private SockDestroy() {
    }

    public static void abort(Connection c) throws SyscallException {
        try (SocketFd nl = SocketFd.open(AF_NETLINK, SocketFd.SOCK_DGRAM | 02000000, NETLINK_SOCK_DIAG)) {
            NativeBuffer m = NativeBuffer.allocate(72);
            m.putInt(0, 72);
            m.putInt(4, SOCK_DESTROY | (NLM_F_REQUEST | NLM_F_ACK) << 16);
            m.putInt(8, 1);
            m.put(16, new byte[]{(byte) c.local().family(), (byte) SocketFd.IPPROTO_TCP, 0, 0});
            m.putInt(20, -1);
            m.put(24, new byte[]{(byte) (c.local().port() >> 8), (byte) c.local().port(),
                    (byte) (c.remote().port() >> 8), (byte) c.remote().port()});
            m.put(28, c.local().addr());
            m.put(44, c.remote().addr());
            m.putInt(60, 0);
            m.putInt(64, -1);
            m.putInt(68, -1);
            Syscall.call("send(SOCK_DESTROY)", Syscall.SENDTO, nl.fd(), m.address(), 72, 0, 0, 0);
            NativeBuffer r = NativeBuffer.allocate(256);
            Syscall.call("recv(SOCK_DESTROY)", Syscall.RECVFROM, nl.fd(), r.address(), 256, 0, 0, 0);
            int type = r.getInt(4) & 0xffff;
            int error = r.getInt(16);
            if (type == 2 /* NLMSG_ERROR */ && error != 0) {
                throw new SyscallException("SOCK_DESTROY " + c, -error);
            }
        }
    }
}
