package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.sk_opts_entry;

/** The socket options a program sets (SO_* and TCP keepalive), read from one socket and set on another. */
public final class SocketOptions {
    static final int SO_BROADCAST = 6, SO_PRIORITY = 12, SO_RCVLOWAT = 18, SO_MARK = 36, SO_DONTROUTE = 5,
            SO_OOBINLINE = 10, SO_NO_CHECK = 11, SO_PASSCRED = 16, SO_BINDTODEVICE = 25, SO_ATTACH_FILTER = 26,
            SO_GET_FILTER = SO_ATTACH_FILTER, SO_PASSSEC = 34, SO_BUF_LOCK = 72, ENOPROTOOPT = 92;
    /** How many classic BPF instructions a socket filter may hold (BPF_MAXINSNS). */
    static final int BPF_MAXINSNS = 4096;

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
        if (flag(s, SO_PASSCRED)) {
            b.setSoPasscred(true);
        }
        if (flag(s, SO_PASSSEC)) {
            b.setSoPasssec(true);
        }
        if (flag(s, SO_DONTROUTE)) {
            b.setSoDontroute(true);
        }
        if (flag(s, SO_NO_CHECK)) {
            b.setSoNoCheck(true);
        }
        if (flag(s, SO_OOBINLINE)) {
            b.setSoOobinline(1);
        }
        String device = boundDevice(s);
        if (!device.isEmpty()) {
            b.setSoBoundDev(device);
        }
        for (long insn : filter(s)) {
            b.addSoFilter(insn);
        }
        int lock = bufLock(s);
        if (lock >= 0) {
            b.setSoBufLock(lock);
        }
        if (tcp) {
            b.setTcpKeepcnt(s.getInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPCNT))
                    .setTcpKeepidle(s.getInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPIDLE))
                    .setTcpKeepintvl(s.getInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPINTVL));
        }
        return b.build();
    }

    /** A boolean option; off where the socket's family does not have it (SO_PASSCRED on UDP: EOPNOTSUPP on 6.16+). */
    private static boolean flag(SocketFd s, int opt) {
        try {
            return s.getInt(SocketFd.SOL_SOCKET, opt) != 0;
        } catch (SyscallException e) {
            return false;
        }
    }

    /** The interface the socket is bound to (SO_BINDTODEVICE), or "". */
    private static String boundDevice(SocketFd s) throws SyscallException {
        byte[] name = s.getBytes(SocketFd.SOL_SOCKET, SO_BINDTODEVICE, 16);
        int len = 0;
        while (len < name.length && name[len] != 0) {
            len++;
        }
        return new String(name, 0, len, java.nio.charset.StandardCharsets.US_ASCII);
    }

    /**
     * The classic BPF filter attached to the socket (SO_ATTACH_FILTER), one instruction per long as CRIU keeps them
     * (code, jt, jf, k as struct sock_filter lays them out); none when there is none. An eBPF program
     * (SO_ATTACH_BPF) has no instructions to read back: refused, since the restored socket would let everything
     * through.
     */
    static long[] filter(SocketFd s) throws SyscallException {
        // first how many instructions (a length of 0 asks only that, 0 when there is no filter): a buffer for the
        // most there can be is 32 KiB of fresh pages for every socket, ~80 µs of faults here
        NativeBuffer count = NativeBuffer.allocate(16);
        long r = dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.GETSOCKOPT, s.fd(), SocketFd.SOL_SOCKET,
                SO_GET_FILTER, count.address(), count.address() + 8);
        if (r == 0 && count.getInt(8) == 0) {
            return new long[0];
        }
        int max = r == 0 ? Math.min(BPF_MAXINSNS, count.getInt(8)) : BPF_MAXINSNS;
        NativeBuffer b = NativeBuffer.allocate(8 * max + 8);
        b.putInt(8 * max, max); // SO_GET_FILTER counts in instructions, not bytes
        r = dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.GETSOCKOPT, s.fd(), SocketFd.SOL_SOCKET,
                SO_GET_FILTER, b.address(), b.address() + 8 * max);
        if (r == -13 /* EACCES: no classic program behind it */) {
            throw new SyscallException("the socket has an eBPF filter (SO_ATTACH_BPF), which Cryo cannot dump; "
                    + "getsockopt(SO_GET_FILTER)", 13);
        }
        if (r < 0) {
            throw new SyscallException("getsockopt(SO_GET_FILTER)", (int) -r);
        }
        int n = b.getInt(8 * max);
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[i] = b.getLong(8 * i);
        }
        return out;
    }

    /** SO_BUF_LOCK (5.14): which buffer sizes the program fixed (autotuning off for them); -1 on older kernels. */
    private static int bufLock(SocketFd s) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(16);
        b.putInt(8, 4);
        long r = dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.GETSOCKOPT, s.fd(), SocketFd.SOL_SOCKET,
                SO_BUF_LOCK, b.address(), b.address() + 8);
        return r < 0 ? -1 : b.getInt(0);
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
        if (o.getSoPasscred()) {
            s.setInt(sol, SO_PASSCRED, 1);
        }
        if (o.getSoPasssec()) {
            s.setInt(sol, SO_PASSSEC, 1);
        }
        if (o.getSoDontroute()) {
            s.setInt(sol, SO_DONTROUTE, 1);
        }
        if (o.getSoNoCheck()) {
            s.setInt(sol, SO_NO_CHECK, 1);
        }
        if (o.getSoOobinline() != 0) {
            s.setInt(sol, SO_OOBINLINE, 1);
        }
        if (o.hasSoBoundDev() && !o.getSoBoundDev().isEmpty()) {
            s.setBytes(sol, SO_BINDTODEVICE, (o.getSoBoundDev() + "\0").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }
        if (o.getSoFilterCount() > 0) {
            int n = o.getSoFilterCount();
            NativeBuffer code = NativeBuffer.allocate(8 * n);
            for (int i = 0; i < n; i++) {
                code.putLong(8 * i, o.getSoFilter(i));
            }
            NativeBuffer prog = NativeBuffer.allocate(16); // struct sock_fprog: u16 len, then the pointer at 8
            prog.putInt(0, n);
            prog.putLong(8, code.address());
            dev.cryo.engine.sys.Syscall.call("setsockopt(SO_ATTACH_FILTER)", dev.cryo.engine.sys.Syscall.SETSOCKOPT,
                    s.fd(), sol, SO_ATTACH_FILTER, prog.address(), 16);
        }
        if (o.hasSoBufLock()) { // the buffer sizes forced above lock them; the program's own locks (or none) go back
            long r = dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.SETSOCKOPT, s.fd(), sol, SO_BUF_LOCK,
                    intBuffer(o.getSoBufLock()).address(), 4);
            if (r < 0 && r != -ENOPROTOOPT) {
                throw new SyscallException("setsockopt(SO_BUF_LOCK, " + o.getSoBufLock() + ")", (int) -r);
            }
        }
        if (tcp && o.hasTcpKeepcnt()) {
            s.setInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPCNT, o.getTcpKeepcnt());
            s.setInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPIDLE, o.getTcpKeepidle());
            s.setInt(SocketFd.IPPROTO_TCP, TcpRepair.TCP_KEEPINTVL, o.getTcpKeepintvl());
        }
    }

    private static NativeBuffer intBuffer(int value) {
        NativeBuffer b = NativeBuffer.allocate(4);
        b.putInt(0, value);
        return b;
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
