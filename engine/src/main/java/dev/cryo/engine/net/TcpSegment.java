package dev.cryo.engine.net;

import dev.cryo.engine.sys.SyscallException;

import java.nio.ByteBuffer;

/**
 * One TCP segment without data, crafted as if the peer of a restored connection had sent it, and handed to the
 * kernel through a raw socket with its own IP header: the only way to give a socket the FIN its peer sent before the
 * dump, since repair mode has no option for it. It goes out with CRIU's mark, which both network locks let through,
 * and reaches the restored socket through the loopback path (its destination is an address of this host), so the
 * source may be the address of a peer on another host.
 */
public final class TcpSegment {
    public static final int FIN = 0x01, ACK = 0x10;
    static final int SOCK_RAW = 3, IPPROTO_IP = 0, IP_HDRINCL = 3, IPV6_HDRINCL = 36, SO_MARK = 36;
    /** CRIU's mark (SOCCR_MARK): its iptables lock and Cryo's nftables lock drop only packets without it. */
    public static final int MARK = 0xC114;

    private TcpSegment() {
    }

    /**
     * Sends a segment from {@code from} to {@code to} with sequence number {@code seq}, acknowledgement {@code ack},
     * {@code flags} and the (already scaled down) {@code window}, in the network namespace of task {@code pid}.
     */
    public static void send(int pid, SockAddr from, SockAddr to, int seq, int ack, int flags, int window)
            throws SyscallException {
        // an IPv6 socket talking to a v4-mapped address (::ffff:a.b.c.d) sends IPv4 packets
        byte[] src = NfTables.Batch.onTheWire(from.addr()), dst = NfTables.Batch.onTheWire(to.addr());
        boolean v6 = src.length == 16;
        byte[] packet = packet(v6, src, dst, from.port(), to.port(), seq, ack, flags, window);
        try (SocketFd raw = SocketFd.openFor(pid, v6 ? SockAddr.AF_INET6 : SockAddr.AF_INET, SOCK_RAW,
                SocketFd.IPPROTO_TCP)) {
            raw.setInt(v6 ? SocketFd.IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_HDRINCL : IP_HDRINCL, 1);
            raw.setInt(SocketFd.SOL_SOCKET, SO_MARK, MARK);
            raw.sendTo(packet, new SockAddr(v6 ? SockAddr.AF_INET6 : SockAddr.AF_INET, dst, 0));
        }
    }

    /** The IP header (the kernel fills an IPv4 header's id and checksum) and the TCP header with its checksum. */
    static byte[] packet(boolean v6, byte[] src, byte[] dst, int sport, int dport, int seq, int ack, int flags,
            int window) {
        int ipLen = v6 ? 40 : 20;
        ByteBuffer b = ByteBuffer.allocate(ipLen + 20); // network byte order
        if (v6) {
            b.putInt(0x60000000).putShort((short) 20).put((byte) SocketFd.IPPROTO_TCP).put((byte) 64).put(src).put(dst);
        } else {
            b.put((byte) 0x45).put((byte) 0).putShort((short) (ipLen + 20)).putShort((short) 0)
                    .putShort((short) 0x4000).put((byte) 64).put((byte) SocketFd.IPPROTO_TCP).putShort((short) 0)
                    .put(src).put(dst);
        }
        b.putShort((short) sport).putShort((short) dport).putInt(seq).putInt(ack).put((byte) (5 << 4))
                .put((byte) flags).putShort((short) Math.min(window, 0xffff)).putShort((short) 0).putShort((short) 0);
        byte[] p = b.array();
        int sum = checksum(src, dst, p, ipLen);
        p[ipLen + 16] = (byte) (sum >> 8);
        p[ipLen + 17] = (byte) sum;
        return p;
    }

    /** The TCP checksum over the pseudo-header (addresses, protocol, length) and the header at {@code off}. */
    static int checksum(byte[] src, byte[] dst, byte[] p, int off) {
        long sum = 0;
        for (byte[] a : new byte[][]{src, dst}) {
            for (int i = 0; i < a.length; i += 2) {
                sum += (a[i] & 0xff) << 8 | a[i + 1] & 0xff;
            }
        }
        int len = p.length - off;
        sum += SocketFd.IPPROTO_TCP + len;
        for (int i = off; i < p.length; i += 2) {
            sum += (p[i] & 0xff) << 8 | (i + 1 < p.length ? p[i + 1] & 0xff : 0);
        }
        while (sum >> 16 != 0) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        return (int) ~sum & 0xffff;
    }
}
