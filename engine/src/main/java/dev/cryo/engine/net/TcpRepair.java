package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.tcp_stream_entry;


/**
 * A TCP connection read and rebuilt through the kernel's repair mode: sequence numbers, both queues, negotiated
 * options and the window. A socket in repair mode closes without FIN or RST.
 * <p>
 * Besides established connections, the half-closed ones: a FIN sent (FIN_WAIT1, FIN_WAIT2, and LAST_ACK and CLOSING,
 * which also got the peer's) or received (CLOSE_WAIT, LAST_ACK, CLOSING). As CRIU writes them, an image's sequence
 * numbers are the kernel's, each FIN counted in, and its queue lengths count data only. Repair mode rebuilds an
 * established connection; the restore then replays the FINs: its own through shutdown, the peer's (and the peer's
 * ACK of its own, for FIN_WAIT2) as a segment crafted from the peer's address ({@link TcpSegment}).
 */
public final class TcpRepair {
    public static final int TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_CORK = 3, TCP_KEEPIDLE = 4, TCP_KEEPINTVL = 5,
            TCP_KEEPCNT = 6, TCP_INFO = 11, TCP_REPAIR = 19, TCP_REPAIR_QUEUE = 20, TCP_QUEUE_SEQ = 21,
            TCP_REPAIR_OPTIONS = 22, TCP_TIMESTAMP = 24, TCP_REPAIR_WINDOW = 29;
    static final int TCP_RECV_QUEUE = 1, TCP_SEND_QUEUE = 2;
    static final int TCPI_OPT_TIMESTAMPS = 1, TCPI_OPT_SACK = 2, TCPI_OPT_WSCALE = 4;
    static final int TCPOPT_MAXSEG = 2, TCPOPT_WINDOW = 3, TCPOPT_SACK_PERM = 4, TCPOPT_TIMESTAMP = 8;
    public static final int TCP_ESTABLISHED = 1, TCP_SYN_SENT = 2, TCP_FIN_WAIT1 = 4, TCP_FIN_WAIT2 = 5,
            TCP_CLOSE = 7, TCP_CLOSE_WAIT = 8, TCP_LAST_ACK = 9, TCP_LISTEN = 10, TCP_CLOSING = 11;
    static final int SHUT_WR = 1, TCP_REPAIR_OFF_NO_WP = -1;

    /** A connection repair mode reads and rebuilds: established, or half-closed either way. */
    public static boolean connected(int state) {
        return state == TCP_ESTABLISHED || sentFin(state) || gotFin(state);
    }

    /** Whether this side sent its FIN (its stream ended): FIN_WAIT1, FIN_WAIT2, LAST_ACK, CLOSING. */
    public static boolean sentFin(int state) {
        return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_LAST_ACK || state == TCP_CLOSING;
    }

    /** Whether the peer's FIN came in (reads end after the queued bytes): CLOSE_WAIT, LAST_ACK, CLOSING. */
    public static boolean gotFin(int state) {
        return state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK || state == TCP_CLOSING;
    }

    /** Whether this side's FIN is sent but not acknowledged: the send queue's length counts it. */
    static boolean finUnacked(int state) {
        return state == TCP_FIN_WAIT1 || state == TCP_LAST_ACK || state == TCP_CLOSING;
    }

    private TcpRepair() {
    }

    /** Whether the TCP option {@code opt} (TCP_NODELAY, TCP_CORK) is on. */
    public static boolean flag(SocketFd s, int opt) throws SyscallException {
        return s.getInt(SocketFd.IPPROTO_TCP, opt) != 0;
    }

    /** Turns TCP_NODELAY and TCP_CORK on where they were (a new socket has both off). */
    public static void setNagle(SocketFd s, boolean nodelay, boolean cork) throws SyscallException {
        if (nodelay) {
            s.setInt(SocketFd.IPPROTO_TCP, TCP_NODELAY, 1);
        }
        if (cork) {
            s.setInt(SocketFd.IPPROTO_TCP, TCP_CORK, 1);
        }
    }

    /** tcpi_state from TCP_INFO. */
    public static int state(SocketFd s) throws SyscallException {
        return s.getBytes(SocketFd.IPPROTO_TCP, TCP_INFO, 8)[0] & 0xff;
    }

    public static void repair(SocketFd s, boolean on) throws SyscallException {
        s.setInt(SocketFd.IPPROTO_TCP, TCP_REPAIR, on ? 1 : 0);
    }

    /**
     * An established connection's stream: its entry, and its queues' bytes (receive then send) in native memory,
     * from which they go to the image file as they are.
     */
    public record Stream(tcp_stream_entry entry, dev.cryo.engine.sys.PopulatedMemory memory, int length)
            implements AutoCloseable {
        /** The queues' bytes; valid until {@link #close}. */
        public java.nio.ByteBuffer queues() {
            return memory.buffer().limit(length);
        }

        @Override
        public void close() {
            memory.close();
        }
    }

    /**
     * Reads the stream of a socket already in repair mode, in state {@code state}. The receive queue's length leaves
     * out a FIN that came in (the kernel's does); the send queue's a FIN not yet acknowledged (the kernel's counts
     * it, in the unsent part too while it waits behind unsent bytes).
     */
    public static Stream dump(SocketFd s, int state) throws SyscallException {
        byte[] info = s.getBytes(SocketFd.IPPROTO_TCP, TCP_INFO, 8);
        int options = info[5] & 0xff;
        int sndWscale = info[6] & 0x0f, rcvWscale = (info[6] >> 4) & 0x0f;
        int inqLen = s.inq();
        int outqLen = s.outq();
        int unsqLen = s.outqNotSent();
        if (finUnacked(state) && outqLen > 0) {
            outqLen--;
            if (unsqLen > 0) {
                unsqLen--;
            }
        }

        // both queues peeked straight into one populated mapping: no heap copy of megabytes, no page faults
        dev.cryo.engine.sys.PopulatedMemory queues = dev.cryo.engine.sys.PopulatedMemory.map((long) inqLen + outqLen);
        boolean done = false;
        try {
        s.setInt(SocketFd.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE);
        int inqSeq = s.getInt(SocketFd.IPPROTO_TCP, TCP_QUEUE_SEQ);
        peekAll(s, queues.address(), inqLen);
        s.setInt(SocketFd.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE);
        int outqSeq = s.getInt(SocketFd.IPPROTO_TCP, TCP_QUEUE_SEQ);
        peekAll(s, queues.address() + inqLen, outqLen);
        s.setInt(SocketFd.IPPROTO_TCP, TCP_REPAIR_QUEUE, 0);

        var e = tcp_stream_entry.newBuilder().setInqLen(inqLen).setInqSeq(inqSeq).setOutqLen(outqLen)
                .setOutqSeq(outqSeq).setOptMask(options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE))
                .setSndWscale(sndWscale).setRcvWscale(rcvWscale)
                .setMssClamp(s.getInt(SocketFd.IPPROTO_TCP, TCP_MAXSEG))
                .setTimestamp(s.getInt(SocketFd.IPPROTO_TCP, TCP_TIMESTAMP))
                .setCork(flag(s, TCP_CORK)).setNodelay(flag(s, TCP_NODELAY))
                .setUnsqLen(Math.min(unsqLen, outqLen));
        byte[] w = s.getBytes(SocketFd.IPPROTO_TCP, TCP_REPAIR_WINDOW, 20);
        if (w.length == 20) {
            NativeBuffer b = NativeBuffer.allocate(20);
            b.put(0, w);
            e.setSndWl1(b.getInt(0)).setSndWnd(b.getInt(4)).setMaxWindow(b.getInt(8)).setRcvWnd(b.getInt(12))
                    .setRcvWup(b.getInt(16));
        }
        done = true;
        return new Stream(e.build(), queues, inqLen + outqLen);
        } finally {
            if (!done) {
                queues.close();
            }
        }
    }

    /** Peeks exactly {@code len} queued bytes to {@code address}; the queue was measured while frozen. */
    private static void peekAll(SocketFd s, long address, int len) throws SyscallException {
        if (len == 0) {
            return;
        }
        long got = s.peekInto(address, len);
        if (got != len) {
            throw new SyscallException("peek of " + len + " queued bytes returned " + got, 5 /* EIO */);
        }
    }

    /**
     * Puts a new socket (repair mode on, not yet bound) into the dumped connection, as an established one: sequence
     * numbers (less the FINs a half-closed {@code state} counts in), bind, connect without a SYN, options, the
     * receive queue and the sent part of the send queue, the window. Repair stays on; {@link #finish} turns it off,
     * sends what had not been sent and replays the FINs.
     */
    public static void restore(SocketFd s, tcp_stream_entry e, byte[] payload, SockAddr local, SockAddr remote,
            int state) throws SyscallException {
        int tcp = SocketFd.IPPROTO_TCP;
        s.setInt(tcp, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE);
        s.setInt(tcp, TCP_QUEUE_SEQ, e.getInqSeq() - e.getInqLen() - (gotFin(state) ? 1 : 0));
        s.setInt(tcp, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE);
        s.setInt(tcp, TCP_QUEUE_SEQ, e.getOutqSeq() - e.getOutqLen() - (sentFin(state) ? 1 : 0));
        s.setInt(tcp, TCP_REPAIR_QUEUE, 0);
        s.bind(local);
        s.connect(remote);

        NativeBuffer opts = NativeBuffer.allocate(32);
        int n = 0;
        opts.putInt(n * 8, TCPOPT_MAXSEG);
        opts.putInt(n++ * 8 + 4, e.getMssClamp());
        if ((e.getOptMask() & TCPI_OPT_WSCALE) != 0) {
            opts.putInt(n * 8, TCPOPT_WINDOW);
            opts.putInt(n++ * 8 + 4, e.getSndWscale() | e.getRcvWscale() << 16);
        }
        if ((e.getOptMask() & TCPI_OPT_SACK) != 0) {
            opts.putInt(n * 8, TCPOPT_SACK_PERM);
            opts.putInt(n++ * 8 + 4, 0);
        }
        if ((e.getOptMask() & TCPI_OPT_TIMESTAMPS) != 0) {
            opts.putInt(n * 8, TCPOPT_TIMESTAMP);
            opts.putInt(n++ * 8 + 4, 0);
        }
        s.setBytes(tcp, TCP_REPAIR_OPTIONS, opts.bytes(0, n * 8));
        if ((e.getOptMask() & TCPI_OPT_TIMESTAMPS) != 0 && e.hasTimestamp()) {
            s.setInt(tcp, TCP_TIMESTAMP, e.getTimestamp());
        }

        int inq = e.getInqLen(), outq = e.getOutqLen(), unsent = e.getUnsqLen();
        // room for both queues whatever the defaults; the program's own sizes are set again afterwards
        s.setInt(SocketFd.SOL_SOCKET, SocketFd.SO_SNDBUFFORCE, Math.max(outq, 65536));
        s.setInt(SocketFd.SOL_SOCKET, SocketFd.SO_RCVBUFFORCE, Math.max(inq, 65536));
        if (inq > 0) {
            s.setInt(tcp, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE);
            s.sendAll(payload, 0, inq);
        }
        if (outq - unsent > 0) {
            s.setInt(tcp, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE);
            s.sendAll(payload, inq, outq - unsent);
        }
        s.setInt(tcp, TCP_REPAIR_QUEUE, 0);
        if (e.hasSndWl1()) {
            NativeBuffer w = NativeBuffer.allocate(20);
            w.putInt(0, e.getSndWl1());
            w.putInt(4, e.getSndWnd());
            w.putInt(8, e.getMaxWindow());
            w.putInt(12, e.getRcvWnd());
            // the kernel refuses a window update point past the next byte to receive: after a FIN that came in,
            // the point may count the FIN, which comes back only after this
            int rcvNxt = e.getInqSeq() - (gotFin(state) ? 1 : 0);
            w.putInt(16, e.getRcvWup() - rcvNxt > 0 ? rcvNxt : e.getRcvWup());
            s.setBytes(tcp, TCP_REPAIR_WINDOW, w.bytes(0, 20));
        }
        setNagle(s, e.getNodelay(), e.getCork());
    }

    /**
     * Repair off, then the bytes the program had queued but the kernel had not sent yet go out the normal way, and a
     * half-closed connection gets its FINs back in the order they came: the peer's first for CLOSE_WAIT and
     * LAST_ACK, its own first for FIN_WAIT and CLOSING. The peer's FIN (and for FIN_WAIT2 its ACK of this side's) is a
     * segment crafted from the peer's address, sent in the network namespace of task {@code pid}. Ends by checking
     * that the socket reached {@code state}.
     */
    public static void finish(SocketFd s, tcp_stream_entry e, byte[] payload, int state, SockAddr local,
            SockAddr remote, int pid) throws SyscallException {
        repair(s, false);
        int unsent = e.getUnsqLen();
        if (unsent > 0) {
            s.sendAll(payload, e.getInqLen() + e.getOutqLen() - unsent, unsent);
        }
        if (state == TCP_ESTABLISHED) {
            return;
        }
        int peerSeq = e.getInqSeq() - (gotFin(state) ? 1 : 0); // the sequence number the peer's FIN had
        int acked = e.getOutqSeq() - e.getOutqLen() - (finUnacked(state) ? 1 : 0); // what the peer had acknowledged
        int window = e.getSndWnd() >>> ((e.getOptMask() & TCPI_OPT_WSCALE) != 0 ? e.getSndWscale() : 0);
        if (state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK) {
            TcpSegment.send(pid, remote, local, peerSeq, acked, TcpSegment.FIN | TcpSegment.ACK, window);
            expect(s, TCP_CLOSE_WAIT, "the peer's FIN");
        }
        if (sentFin(state) && unsent > 0) {
            s.shutdown(SHUT_WR); // the FIN waited behind unsent bytes: it waits behind them again
        } else if (sentFin(state)) {
            // the FIN had gone out: in repair mode, on the send queue, the kernel counts it sent without sending it
            // (the peer has it); unacknowledged, it is sent again when its timer fires, as it would have been
            repair(s, true);
            s.setInt(SocketFd.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE);
            s.shutdown(SHUT_WR);
            s.setInt(SocketFd.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP);
        }
        if (state == TCP_CLOSING) {
            TcpSegment.send(pid, remote, local, peerSeq, acked, TcpSegment.FIN | TcpSegment.ACK, window);
        } else if (state == TCP_FIN_WAIT2) {
            TcpSegment.send(pid, remote, local, peerSeq, e.getOutqSeq(), TcpSegment.ACK, window);
        }
        expect(s, state, "its FINs");
    }

    /** Whether the socket reached {@code want}, or a state TCP itself moves on to from there (a peer's answer). */
    private static void expect(SocketFd s, int want, String what) throws SyscallException {
        int got = state(s);
        boolean movedOn = switch (want) {
            case TCP_FIN_WAIT1 -> got == TCP_FIN_WAIT2 || got == TCP_CLOSING || got == TCP_CLOSE;
            case TCP_FIN_WAIT2, TCP_LAST_ACK, TCP_CLOSING -> got == TCP_CLOSE;
            default -> false;
        };
        if (got != want && !movedOn) {
            throw new SyscallException("after " + what + " the connection is in state " + got + " (" + want
                    + " expected)", 71 /* EPROTO */);
        }
    }
}
