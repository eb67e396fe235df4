package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.sk_opts_entry;

/** The socket options a program sets (SO_* and TCP keepalive), read from one socket and set on another. */
public final class SocketOptions {
    static final int SO_BROADCAST = 6, SO_PRIORITY = 12, SO_RCVLOWAT = 18, SO_MARK = 36;

    private SocketOptions() {
    }

    public static sk_opts_entry dump(SocketFd s, boolean tcp) throws SyscallException {
        int sol = SocketFd.SOL_SOCKET;
        long[] rcv = timeval(s, SocketFd.SO_RCVTIMEO), snd = timeval(s, SocketFd.SO_SNDTIMEO);
        var b = sk_opts_entry.newBuilder().setSoSndbuf(s.getInt(sol, SocketFd.SO_SNDBUF))
                .setSoRcvbuf(s.getInt(sol, SocketFd.SO_RCVBUF)).setSoSndTmoSec(snd[0]).setSoSndTmoUsec(snd[1])
                .setSoRcvTmoSec(rcv[0]).setSoRcvTmoUsec(rcv[1])
                .setReuseaddr(s.getInt(sol, SocketFd.SO_REUSEADDR) != 0)
                .setSoReuseport(s.getInt(sol, SocketFd.SO_REUSEPORT) != 0)
                .setSoKeepalive(s.getInt(sol, SocketFd.SO_KEEPALIVE) != 0)
                .setSoBroadcast(s.getInt(sol, SO_BROADCAST) != 0)
                .setSoPriority(s.getInt(sol, SO_PRIORITY)).setSoRcvlowat(s.getInt(sol, SO_RCVLOWAT))
                .setSoMark(s.getInt(sol, SO_MARK));
        byte[] linger = s.getBytes(sol, SocketFd.SO_LINGER, 8);
        NativeBuffer l = NativeBuffer.allocate(8);
        l.put(0, linger);
        if (l.getInt(0) != 0) {
            b.setSoLinger(l.getInt(4));
        }
        if (tcp) {
            b.setTcpKeepcnt(s.getInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPCNT))
                    .setTcpKeepidle(s.getInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPIDLE))
                    .setTcpKeepintvl(s.getInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPINTVL));
        }
        return b.build();
    }

    private static long[] timeval(SocketFd s, int opt) throws SyscallException {
        byte[] v = s.getBytes(SocketFd.SOL_SOCKET, opt, 16);
        NativeBuffer b = NativeBuffer.allocate(16);
        b.put(0, v);
        return new long[]{b.getLong(0), b.getLong(8)};
    }

    /** Sets what differs from a fresh socket's defaults; buffer sizes are halved because the kernel doubles them. */
    public static void restore(SocketFd s, sk_opts_entry o, boolean tcp) throws SyscallException {
        int sol = SocketFd.SOL_SOCKET;
        if (o.getSoSndbuf() != s.getInt(sol, SocketFd.SO_SNDBUF)) {
            s.setInt(sol, SocketFd.SO_SNDBUFFORCE, o.getSoSndbuf() / 2);
        }
        if (o.getSoRcvbuf() != s.getInt(sol, SocketFd.SO_RCVBUF)) {
            s.setInt(sol, SocketFd.SO_RCVBUFFORCE, o.getSoRcvbuf() / 2);
        }
        setTimeval(s, SocketFd.SO_SNDTIMEO, o.getSoSndTmoSec(), o.getSoSndTmoUsec());
        setTimeval(s, SocketFd.SO_RCVTIMEO, o.getSoRcvTmoSec(), o.getSoRcvTmoUsec());
        s.setInt(sol, SocketFd.SO_REUSEADDR, o.getReuseaddr() ? 1 : 0);
        if (o.getSoReuseport()) {
            s.setInt(sol, SocketFd.SO_REUSEPORT, 1);
        }
        if (o.getSoKeepalive()) {
            s.setInt(sol, SocketFd.SO_KEEPALIVE, 1);
        }
        if (o.getSoBroadcast()) {
            s.setInt(sol, SO_BROADCAST, 1);
        }
        if (o.getSoPriority() != 0) {
            s.setInt(sol, SO_PRIORITY, o.getSoPriority());
        }
        if (o.getSoRcvlowat() > 1) {
            s.setInt(sol, SO_RCVLOWAT, o.getSoRcvlowat());
        }
        if (o.getSoMark() != 0) {
            s.setInt(sol, SO_MARK, o.getSoMark());
        }
        if (o.hasSoLinger()) {
            NativeBuffer l = NativeBuffer.allocate(8);
            l.putInt(0, 1);
            l.putInt(4, o.getSoLinger());
            s.setBytes(sol, SocketFd.SO_LINGER, l.bytes(0, 8));
        }
        if (tcp && o.hasTcpKeepcnt()) {
            s.setInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPCNT, o.getTcpKeepcnt());
            s.setInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPIDLE, o.getTcpKeepidle());
            s.setInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPINTVL, o.getTcpKeepintvl());
        }
    }

    private static void setTimeval(SocketFd s, int opt, long sec, long usec) throws SyscallException {
        if (sec == 0 && usec == 0) {
            return;
        }
        NativeBuffer b = NativeBuffer.allocate(16);
        b.putLong(0, sec);
        b.putLong(8, usec);
        s.setBytes(SocketFd.SOL_SOCKET, opt, b.bytes(0, 16));
    }
}
