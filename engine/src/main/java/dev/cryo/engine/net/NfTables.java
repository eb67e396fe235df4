package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * nf_tables spoken over netlink (NETLINK_NETFILTER), as the {@code nft} program speaks it: one batch, one
 * transaction, the kernel's answer to every message. The network lock's table is made and removed this way, in
 * about a millisecond where starting {@code nft} costs 20 to 50 ms of the frozen window.
 */
final class NfTables {
    static final int NETLINK_NETFILTER = 12, SOCK_RAW = 3, SOCK_CLOEXEC = 02000000;
    static final int NFNL_SUBSYS_NFTABLES = 10, NFNL_MSG_BATCH_BEGIN = 0x10, NFNL_MSG_BATCH_END = 0x11;
    static final int NFT_MSG_NEWTABLE = 0, NFT_MSG_DELTABLE = 2, NFT_MSG_NEWCHAIN = 3, NFT_MSG_NEWRULE = 6;
    static final int NLM_F_REQUEST = 1, NLM_F_ACK = 4, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400, NLM_F_APPEND = 0x800;
    static final int NLMSG_ERROR = 2, NLA_F_NESTED = 0x8000;
    static final int NFPROTO_INET = 1, NFPROTO_IPV4 = 2, NFPROTO_IPV6 = 10;
    static final int NF_DROP = 0, NF_ACCEPT = 1, NF_INET_LOCAL_IN = 1, NF_INET_LOCAL_OUT = 3;
    static final int NFT_REG_VERDICT = 0, NFT_REG_1 = 1, NFT_CMP_EQ = 0, NFT_CMP_NEQ = 1;
    static final int NFT_META_MARK = 3, NFT_META_NFPROTO = 15, NFT_META_L4PROTO = 16;
    static final int NFT_PAYLOAD_NETWORK_HEADER = 1, NFT_PAYLOAD_TRANSPORT_HEADER = 2;
    static final int IPPROTO_TCP = 6;

    private NfTables() {
    }

    /** A rule's match: packets of one TCP flow, from {@code from} to {@code to}. */
    record Flow(SockAddr from, SockAddr to) {
    }

    /**
     * The messages of one transaction (between BATCH_BEGIN and BATCH_END). Only the last asks for an answer when it
     * succeeds (a lock of thousands of connections would otherwise overflow the socket with acks); the kernel
     * answers every refused one, before that, which names it.
     */
    static final class Batch {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final List<String> what = new ArrayList<>();
        private int seq;
        /** Where the last nf_tables message starts in {@link #out}, -1 before the first. */
        private int lastAt = -1;

        Batch() {
            message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES, new byte[0], null);
        }

        /** Creates the table, or leaves it as it is if it exists (as nft's {@code table inet T {}}). */
        Batch ensureTable(String table) {
            return nft(NFT_MSG_NEWTABLE, NLM_F_CREATE, attrs().string(1 /* NFTA_TABLE_NAME */, table),
                    "create table inet " + table);
        }

        /**
         * Creates the table; the transaction fails with EEXIST if it exists. A transaction that deletes anything
         * waits for an RCU grace period (10 to 20 ms on a VM), one that only adds does not: a lock made this way
         * costs a millisecond or two of the frozen window.
         */
        Batch newTable(String table) {
            return nft(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, attrs().string(1 /* NFTA_TABLE_NAME */, table),
                    "create table inet " + table);
        }

        Batch deleteTable(String table) {
            return nft(NFT_MSG_DELTABLE, 0, attrs().string(1 /* NFTA_TABLE_NAME */, table), "delete table inet " + table);
        }

        /** A base chain of type filter on {@code hook}, policy accept. */
        Batch baseChain(String table, String chain, int hook, int priority) {
            Attrs a = attrs().string(1 /* NFTA_CHAIN_TABLE */, table).string(3 /* NFTA_CHAIN_NAME */, chain)
                    .nested(4 /* NFTA_CHAIN_HOOK */, attrs().u32(1 /* NFTA_HOOK_HOOKNUM */, hook)
                            .u32(2 /* NFTA_HOOK_PRIORITY */, priority))
                    .u32(5 /* NFTA_CHAIN_POLICY */, NF_ACCEPT).string(7 /* NFTA_CHAIN_TYPE */, "filter");
            return nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, a, "create chain " + chain + " in table inet " + table);
        }

        /**
         * Appends {@code ip[6] saddr A ip[6] daddr B tcp sport P tcp dport Q meta mark != 0x0000c114 drop} to {@code chain}, expressed as
         * nft itself expresses it, so that {@code nft list table} shows the rule in those words.
         */
        Batch dropRule(String table, String chain, Flow f) {
            byte[] from = onTheWire(f.from().addr()), to = onTheWire(f.to().addr());
            boolean v6 = from.length == 16;
            int alen = v6 ? 16 : 4;
            Attrs exprs = attrs()
                    .nested(1, meta(NFT_META_NFPROTO)).nested(1, cmp(new byte[]{(byte) (v6 ? NFPROTO_IPV6 : NFPROTO_IPV4)}))
                    .nested(1, payload(NFT_PAYLOAD_NETWORK_HEADER, v6 ? 8 : 12, alen)).nested(1, cmp(from))
                    .nested(1, payload(NFT_PAYLOAD_NETWORK_HEADER, v6 ? 24 : 16, alen)).nested(1, cmp(to))
                    .nested(1, meta(NFT_META_L4PROTO)).nested(1, cmp(new byte[]{IPPROTO_TCP}))
                    .nested(1, payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2)).nested(1, cmp(port(f.from().port())))
                    .nested(1, payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2)).nested(1, cmp(port(f.to().port())))
                    // but packets with CRIU's mark: the segments the restore crafts (TcpSegment), as in CRIU's lock
                    .nested(1, meta(NFT_META_MARK)).nested(1, cmp(NFT_CMP_NEQ, hostOrder(TcpSegment.MARK)))
                    .nested(1, expr("immediate", attrs().u32(1 /* NFTA_IMMEDIATE_DREG */, NFT_REG_VERDICT)
                            .nested(2 /* NFTA_IMMEDIATE_DATA */, attrs().nested(2 /* NFTA_DATA_VERDICT */,
                                    attrs().u32(1 /* NFTA_VERDICT_CODE */, NF_DROP)))));
            Attrs a = attrs().string(1 /* NFTA_RULE_TABLE */, table).string(2 /* NFTA_RULE_CHAIN */, chain)
                    .nested(4 /* NFTA_RULE_EXPRESSIONS */, exprs);
            return nft(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, a, "add rule to chain " + chain);
        }

        /**
         * Puts {@code accept} first in {@code chain}: every packet leaves the chain there, as if it had no rules. A
         * transaction that only adds is applied at once; deleting the rules or the table waits for an RCU grace
         * period (10 to 20 ms on a VM), which can come later.
         */
        Batch acceptFirst(String table, String chain) {
            Attrs exprs = attrs().nested(1, expr("immediate", attrs().u32(1 /* NFTA_IMMEDIATE_DREG */, NFT_REG_VERDICT)
                    .nested(2 /* NFTA_IMMEDIATE_DATA */, attrs().nested(2 /* NFTA_DATA_VERDICT */,
                            attrs().u32(1 /* NFTA_VERDICT_CODE */, NF_ACCEPT)))));
            Attrs a = attrs().string(1 /* NFTA_RULE_TABLE */, table).string(2 /* NFTA_RULE_CHAIN */, chain)
                    .nested(4 /* NFTA_RULE_EXPRESSIONS */, exprs);
            return nft(NFT_MSG_NEWRULE, NLM_F_CREATE, a, "insert accept rule at the head of chain " + chain);
        }

        /**
         * The address as packets carry it: an AF_INET6 socket talking to a v4-mapped address ({@code ::ffff:a.b.c.d},
         * as a JVM's dual-stack sockets do) sends IPv4 packets.
         */
        static byte[] onTheWire(byte[] a) {
            if (a.length != 16) {
                return a;
            }
            for (int i = 0; i < 10; i++) {
                if (a[i] != 0) {
                    return a;
                }
            }
            return a[10] == (byte) 0xff && a[11] == (byte) 0xff ? java.util.Arrays.copyOfRange(a, 12, 16) : a;
        }

        private static Attrs meta(int key) {
            return expr("meta", attrs().u32(1 /* NFTA_META_DREG */, NFT_REG_1).u32(2 /* NFTA_META_KEY */, key));
        }

        private static Attrs payload(int base, int offset, int len) {
            return expr("payload", attrs().u32(1 /* NFTA_PAYLOAD_DREG */, NFT_REG_1).u32(2 /* BASE */, base)
                    .u32(3 /* OFFSET */, offset).u32(4 /* LEN */, len));
        }

        private static Attrs cmp(byte[] value) {
            return cmp(NFT_CMP_EQ, value);
        }

        private static Attrs cmp(int op, byte[] value) {
            return expr("cmp", attrs().u32(1 /* NFTA_CMP_SREG */, NFT_REG_1).u32(2 /* NFTA_CMP_OP */, op)
                    .nested(3 /* NFTA_CMP_DATA */, attrs().bytes(1 /* NFTA_DATA_VALUE */, value)));
        }

        /** A 32-bit meta value (the mark) as the register holds it: in the host's order, little-endian here. */
        private static byte[] hostOrder(int v) {
            return java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.nativeOrder()).putInt(v).array();
        }

        private static Attrs expr(String name, Attrs data) {
            return attrs().string(1 /* NFTA_EXPR_NAME */, name).nested(2 /* NFTA_EXPR_DATA */, data);
        }

        private static byte[] port(int p) {
            return new byte[]{(byte) (p >>> 8), (byte) p};
        }

        private Batch nft(int type, int flags, Attrs a, String description) {
            lastAt = out.size();
            message(NFNL_SUBSYS_NFTABLES << 8 | type, NLM_F_REQUEST | flags, NFPROTO_INET, 0, a.bytes(), description);
            return this;
        }

        private void message(int type, int flags, int family, int resId, byte[] body, String description) {
            int len = 16 + 4 + body.length;
            le32(out, len);
            le16(out, type);
            le16(out, flags);
            le32(out, seq++);
            le32(out, 0);
            out.write(family);
            out.write(0); // NFNETLINK_V0
            out.write(resId >>> 8); // big-endian
            out.write(resId);
            out.writeBytes(body);
            what.add(description);
        }

        /** The batch's bytes, BATCH_END included, the last message asking for its answer. */
        byte[] bytes() {
            return bytes(true);
        }

        /**
         * {@code end} false: without BATCH_END, which the kernel takes as "check, then abort" (nft's {@code -c}): every
         * message is validated and answered, nothing is applied.
         */
        byte[] bytes(boolean end) {
            ByteArrayOutputStream copy = new ByteArrayOutputStream();
            byte[] body = out.toByteArray();
            int last = lastAt;
            if (last >= 0) {
                int flags = (body[last + 6] & 0xff) | (body[last + 7] & 0xff) << 8 | NLM_F_ACK;
                body[last + 6] = (byte) flags;
                body[last + 7] = (byte) (flags >>> 8);
            }
            copy.writeBytes(body);
            if (!end) {
                return copy.toByteArray();
            }
            int len = 20;
            le32(copy, len);
            le16(copy, NFNL_MSG_BATCH_END);
            le16(copy, NLM_F_REQUEST);
            le32(copy, seq);
            le32(copy, 0);
            copy.write(0);
            copy.write(0);
            copy.write(NFNL_SUBSYS_NFTABLES >>> 8);
            copy.write(NFNL_SUBSYS_NFTABLES);
            return copy.toByteArray();
        }

        /** The description of message {@code seq}, null for the batch's own markers. */
        String describe(int seq) {
            return seq >= 0 && seq < what.size() ? what.get(seq) : null;
        }

        /** Sequence number of the message whose answer ends the transaction's, -1 if nothing asks. */
        int acked() {
            return what.size() > 1 ? what.size() - 1 : -1;
        }
    }

    /** Netlink attributes (host-endian headers, values big-endian as nf_tables wants them). */
    static final class Attrs {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Attrs string(int type, String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            byte[] z = java.util.Arrays.copyOf(b, b.length + 1);
            return bytes(type, z);
        }

        Attrs u32(int type, int v) {
            return bytes(type, new byte[]{(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v});
        }

        Attrs nested(int type, Attrs inner) {
            return bytes(type | NLA_F_NESTED, inner.bytes());
        }

        Attrs bytes(int type, byte[] value) {
            le16(out, 4 + value.length);
            le16(out, type);
            out.writeBytes(value);
            for (int pad = (4 - value.length % 4) % 4; pad > 0; pad--) {
                out.write(0);
            }
            return this;
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }

    static Attrs attrs() {
        return new Attrs();
    }

    /** A NETLINK_NETFILTER socket in the caller's network namespace, answers awaited for at most 5 s. */
    static SocketFd open() throws SyscallException {
        SocketFd s = SocketFd.open(SockDestroy.AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        try {
            byte[] timeout = new byte[16];
            timeout[0] = 5; // struct timeval {5 s, 0 us}, little-endian
            s.setBytes(SocketFd.SOL_SOCKET, SocketFd.SO_RCVTIMEO, timeout);
        } catch (SyscallException e) {
            s.close();
            throw e;
        }
        return s;
    }

    /**
     * Sends the batch as one transaction and reads every answer.
     *
     * @throws SyscallException naming the first message the kernel refused and why (the transaction then changed
     *                          nothing)
     */
    static void commit(SocketFd s, Batch batch) throws SyscallException {
        send(s, batch, true);
    }

    /** As {@link #commit}, but the kernel only checks the transaction and applies none of it. */
    static void check(SocketFd s, Batch batch) throws SyscallException {
        send(s, batch, false);
    }

    private static void send(SocketFd s, Batch batch, boolean apply) throws SyscallException {
        byte[] msg = batch.bytes(apply);
        if (msg.length > 200_000) {
            // a datagram larger than the socket's buffer is refused (EMSGSIZE); as nft, the buffer is grown
            s.setInt(SocketFd.SOL_SOCKET, 32 /* SO_SNDBUFFORCE */, msg.length);
        }
        NativeBuffer b = NativeBuffer.allocate(msg.length);
        b.put(0, msg);
        long sent = Syscall.call("send(nf_tables batch)", Syscall.SENDTO, s.fd(), b.address(), msg.length, 0, 0, 0);
        if (sent != msg.length) {
            throw new SyscallException("send(nf_tables batch) sent " + sent + " of " + msg.length + " bytes", 5);
        }
        int waiting = batch.acked();
        NativeBuffer r = NativeBuffer.allocate(8192); // an answer is an nlmsgerr: the message it answers, 40-odd bytes
        while (waiting >= 0) {
            long n = Syscall.call("recv(nf_tables answer)", Syscall.RECVFROM, s.fd(), r.address(), 8192, 0, 0, 0);
            int at = 0;
            while (at + 16 <= n) {
                int len = r.getInt(at), type = r.getInt(at + 4) & 0xffff, seq = r.getInt(at + 8);
                if (len < 16) {
                    break;
                }
                if (type == NLMSG_ERROR && at + 20 <= n) {
                    int err = -r.getInt(at + 16);
                    if (err != 0) {
                        String what = batch.describe(seq);
                        throw new SyscallException("nf_tables: " + (what == null ? "batch" : what), err);
                    }
                    if (seq == waiting) {
                        waiting = -1;
                    }
                }
                at += (len + 3) & ~3;
            }
        }
    }

    /**
     * The nf_tables tables of the socket's network namespace, as "FAMILY NAME" (inet, ip, ip6, arp, bridge, netdev, or
     * the family's number): what {@code nft list tables} shows. iptables-nft keeps its rules in such tables too.
     */
    static java.util.List<String> tables(SocketFd s) throws SyscallException {
        // nlmsghdr {len, type NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE, flags NLM_F_REQUEST | NLM_F_DUMP, seq, pid}
        // and nfgenmsg {AF_UNSPEC, NFNETLINK_V0, res_id 0}
        NativeBuffer q = NativeBuffer.allocate(20);
        q.zero(0, 20);
        q.putInt(0, 20);
        q.putInt(4, (10 << 8 | 1) | (0x301 << 16));
        q.putInt(8, 1);
        Syscall.call("send(nf_tables list tables)", Syscall.SENDTO, s.fd(), q.address(), 20, 0, 0, 0);
        java.util.List<String> out = new java.util.ArrayList<>();
        NativeBuffer r = NativeBuffer.allocate(65536);
        while (true) {
            long n = Syscall.call("recv(nf_tables tables)", Syscall.RECVFROM, s.fd(), r.address(), 65536, 0, 0, 0);
            int at = 0;
            while (at + 16 <= n) {
                int len = r.getInt(at), type = r.getInt(at + 4) & 0xffff;
                if (len < 16 || type == 3 /* NLMSG_DONE */) {
                    return out;
                }
                if (type == NLMSG_ERROR && at + 20 <= n) {
                    int err = -r.getInt(at + 16);
                    if (err != 0) {
                        throw new SyscallException("nf_tables: list tables", err);
                    }
                    return out;
                }
                int family = r.buffer().get(at + 16) & 0xff;
                for (int a = at + 20; a + 4 <= at + len; ) {
                    int alen = r.buffer().getShort(a) & 0xffff, atype = r.buffer().getShort(a + 2) & 0x7fff;
                    if (alen < 4) {
                        break;
                    }
                    if (atype == 1 /* NFTA_TABLE_NAME */) {
                        byte[] name = r.bytes(a + 4, Math.max(0, alen - 5)); // NUL-terminated
                        out.add(familyName(family) + " " + new String(name, java.nio.charset.StandardCharsets.UTF_8));
                    }
                    a += (alen + 3) & ~3;
                }
                at += (len + 3) & ~3;
            }
        }
    }

    private static String familyName(int family) {
        return switch (family) {
            case 1 -> "inet";
            case 2 -> "ip";
            case 3 -> "arp";
            case 5 -> "netdev";
            case 7 -> "bridge";
            case 10 -> "ip6";
            default -> Integer.toString(family);
        };
    }

    private static void le16(ByteArrayOutputStream o, int v) {
        o.write(v);
        o.write(v >>> 8);
    }

    private static void le32(ByteArrayOutputStream o, int v) {
        o.write(v);
        o.write(v >>> 8);
        o.write(v >>> 16);
        o.write(v >>> 24);
    }
}
