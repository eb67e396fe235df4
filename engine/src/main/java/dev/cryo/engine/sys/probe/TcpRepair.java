package dev.cryo.engine.sys.probe;

import jnr.ffi.Pointer;

import static dev.cryo.engine.sys.probe.ProbeCalls.*;

/**
 * Whether TCP repair mode can be switched on: a fresh, unbound, unconnected socket is put into repair
 * mode and its repair window read back. Nothing is bound, connected or sent.
 */
public final class TcpRepair {
    private static final int AF_INET = 2, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SOL_TCP = 6;
    private static final int TCP_REPAIR = 19, TCP_REPAIR_WINDOW = 29, TCP_REPAIR_WINDOW_SIZE = 20;

    private TcpRepair() {
    }

    public static Finding probe() {
        long sk = sys(SOCKET, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sk < 0) {
            return Finding.no("cannot create a TCP socket: " + errno(sk));
        }
        try {
            Pointer one = memory(4);
            one.putInt(0, 1);
            long r = sys(SETSOCKOPT, sk, SOL_TCP, TCP_REPAIR, one.address(), 4);
            if (r == -EPERM) {
                return Finding.no("TCP_REPAIR needs CAP_NET_ADMIN in the socket's network namespace");
            }
            if (r < 0) {
                return Finding.no("setsockopt(TCP_REPAIR) failed: " + errno(r)
                        + (r == -ENOPROTOOPT ? " (kernel without CONFIG_CHECKPOINT_RESTORE)" : ""));
            }
            Pointer window = memory(TCP_REPAIR_WINDOW_SIZE);
            Pointer length = memory(4);
            length.putInt(0, TCP_REPAIR_WINDOW_SIZE);
            long w = sys(GETSOCKOPT, sk, SOL_TCP, TCP_REPAIR_WINDOW, window.address(), length.address());
            if (w < 0) {
                return Finding.no("TCP_REPAIR works but TCP_REPAIR_WINDOW does not: " + errno(w));
            }
            return Finding.yes("TCP_REPAIR switches on and TCP_REPAIR_WINDOW reads back (used by --tcp-established)");
        } finally {
            close(sk);
        }
    }
}
