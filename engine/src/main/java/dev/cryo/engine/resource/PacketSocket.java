package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.net.NetNamespace;
import dev.cryo.engine.net.SocketFd;
import dev.cryo.engine.net.SocketOptions;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.packet_mclist;
import dev.cryo.image.proto.packet_sock_entry;

import com.google.protobuf.ByteString;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Packet sockets (AF_PACKET, what tcpdump, DHCP clients and LLDP daemons hold), as CRIU's packet_sock_entry: type
 * (raw or dgram), protocol (host order, as CRIU), the interface it is bound to, the SOL_PACKET options (version,
 * reserve, auxdata, origdev, vnet header, loss, timestamp, copy threshold), its memberships (PACKET_ADD_MEMBERSHIP)
 * and fanout group, and the socket options. packet_diag (sock_diag, asked from the task's network namespace) is the
 * only place the kernel shows memberships, rings and the copy threshold.
 *
 * <p>Restore makes the socket in the task (its network namespace), then sets the options, binds it, joins the
 * memberships and the fanout group through Cryo's copy of it. Refused: mmap'ed rings (PACKET_RX_RING/TX_RING) and
 * the obsolete SOCK_PACKET type. Packets queued but not read at the dump are not kept, as CRIU does not keep them.
 */
public final class PacketSocket implements FdKind {
    static final int AF_PACKET = 17, SOL_PACKET = 263, SOCK_RAW = 3, SOCK_DGRAM = 2, SOCK_PACKET = 10;
    static final int PACKET_ADD_MEMBERSHIP = 1, PACKET_COPY_THRESH = 7, PACKET_AUXDATA = 8, PACKET_ORIGDEV = 9,
            PACKET_VERSION = 10, PACKET_RESERVE = 12, PACKET_LOSS = 14, PACKET_VNET_HDR = 15, PACKET_TIMESTAMP = 17,
            PACKET_FANOUT = 18;
    /** packet_diag */
    static final int SOCK_DIAG_BY_FAMILY = 20, NLMSG_ERROR = 2, NLMSG_DONE = 3, NLM_F_REQUEST = 1, NLM_F_DUMP = 0x300;
    static final int PACKET_SHOW_INFO = 1, PACKET_SHOW_MCLIST = 2, PACKET_SHOW_RING_CFG = 4, PACKET_SHOW_FANOUT = 8;
    static final int PACKET_DIAG_INFO = 0, PACKET_DIAG_MCLIST = 1, PACKET_DIAG_RX_RING = 2, PACKET_DIAG_TX_RING = 3,
            PACKET_DIAG_FANOUT = 4;
    static final int PDI_AUXDATA = 2, PDI_ORIGDEV = 4, PDI_VNETHDR = 8, PDI_LOSS = 0x10;
    /** CRIU's "no fanout" (packet_sock_entry.fanout's default) */
    static final int NO_FANOUT = 0xffffffff;

    @Override
    public fd_types type() {
        return fd_types.PACKETSK;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.isSocket() && "PACKET".equals(fd.extra().get("sockproto"));
    }

    /** What packet_diag says of one socket. */
    record Diag(int type, int protocol, int ifindex, int version, int reserve, int copyThresh, int tstamp, int flags,
                List<packet_mclist> mclist, boolean rings, int fanout) {
    }

    static Diag diag(int pid, long ino) throws Exception {
        Path ns = NetNamespace.of(pid);
        if (Files.isSameFile(ns, Path.of("/proc/thread-self/ns/net"))) {
            return diagHere(ino);
        }
        return NetNamespace.call(ns, () -> diagHere(ino));
    }

    /** packet_diag answers only dumps of every packet socket of the namespace: the one of inode {@code ino}. */
    private static Diag diagHere(long ino) throws SyscallException {
        try (SocketFd nl = SocketFd.open(NetlinkSocket.AF_NETLINK, SocketFd.SOCK_DGRAM | 02000000, 4 /* SOCK_DIAG */)) {
            // nlmsghdr + packet_diag_req: family, protocol, pad, ino, show, cookie[2] (20 bytes)
            NativeBuffer m = NativeBuffer.allocate(36);
            m.zero(0, 36);
            m.putInt(0, 36);
            m.putInt(4, SOCK_DIAG_BY_FAMILY | (NLM_F_REQUEST | NLM_F_DUMP) << 16);
            m.putInt(8, 1);
            m.put(16, new byte[]{AF_PACKET, 0, 0, 0});
            m.putInt(24, PACKET_SHOW_INFO | PACKET_SHOW_MCLIST | PACKET_SHOW_RING_CFG | PACKET_SHOW_FANOUT);
            Syscall.call("send(packet_diag)", Syscall.SENDTO, nl.fd(), m.address(), 36, 0, 0, 0);
            NativeBuffer r = NativeBuffer.allocate(65536);
            Diag found = null;
            while (true) {
                long n = Syscall.call("recv(packet_diag)", Syscall.RECVFROM, nl.fd(), r.address(), 65536, 0, 0, 0);
                int at = 0;
                while (at + 16 <= n) {
                    int len = r.getInt(at), type = r.getInt(at + 4) & 0xffff;
                    if (type == NLMSG_DONE) {
                        if (found == null) {
                            throw new SyscallException("packet_diag: socket:[" + ino + "] not found", 2);
                        }
                        return found;
                    }
                    if (type == NLMSG_ERROR) {
                        throw new SyscallException("packet_diag", -r.getInt(at + 16));
                    }
                    if (len < 32) {
                        break;
                    }
                    if (Integer.toUnsignedLong(r.getInt(at + 20)) == ino) {
                        found = parse(r, at, len);
                    }
                    at += (len + 3) & ~3;
                }
            }
        }
    }

    private static Diag parse(NativeBuffer r, int msg, int len) {
        byte[] head = r.bytes(msg + 16, 4);
        int type = head[1] & 0xff, protocol = (head[2] & 0xff) | (head[3] & 0xff) << 8;
        int ifindex = 0, version = 0, reserve = 0, copy = 0, tstamp = 0, flags = 0, fanout = NO_FANOUT;
        boolean rings = false;
        List<packet_mclist> mc = new ArrayList<>();
        int at = msg + 32, end = msg + len;
        while (at + 4 <= end) {
            byte[] h = r.bytes(at, 4);
            int alen = (h[0] & 0xff) | (h[1] & 0xff) << 8, atype = (h[2] & 0xff) | (h[3] & 0xff) << 8;
            if (alen < 4) {
                break;
            }
            int data = at + 4;
            switch (atype) {
                case PACKET_DIAG_INFO -> {
                    ifindex = r.getInt(data);
                    version = r.getInt(data + 4);
                    reserve = r.getInt(data + 8);
                    copy = r.getInt(data + 12);
                    tstamp = r.getInt(data + 16);
                    flags = r.getInt(data + 20);
                }
                case PACKET_DIAG_MCLIST -> {
                    // struct packet_diag_mclist: index, count (u32), type, alen (u16), addr[32]
                    for (int i = data; i + 44 <= at + alen; i += 44) {
                        byte[] t = r.bytes(i + 8, 4);
                        int alenAddr = Math.min(32, (t[2] & 0xff) | (t[3] & 0xff) << 8);
                        mc.add(packet_mclist.newBuilder().setIndex(r.getInt(i)).setType((t[0] & 0xff) | (t[1] & 0xff) << 8)
                                .setAddr(ByteString.copyFrom(r.bytes(i + 12, alenAddr))).build());
                    }
                }
                case PACKET_DIAG_RX_RING, PACKET_DIAG_TX_RING -> rings = true;
                case PACKET_DIAG_FANOUT -> fanout = r.getInt(data);
                default -> {
                }
            }
            at += (alen + 3) & ~3;
        }
        return new Diag(type, protocol, ifindex, version, reserve, copy, tstamp, flags, List.copyOf(mc), rings, fanout);
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        String where = "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (packet socket " + fd.target() + ")";
        long ino = UnixSocket.inode(fd);
        Diag d;
        try {
            d = diag(ctx.pid(), ino);
        } catch (Exception e) {
            throw new CryoException(where + ": packet_diag failed: " + e.getMessage()
                    + " (is CONFIG_PACKET_DIAG enabled?)", e);
        }
        if (d.type() == SOCK_PACKET) {
            throw new CryoException(where + " is of the obsolete type SOCK_PACKET, which Cryo cannot dump");
        }
        if (d.rings()) {
            throw new CryoException(where + " has mmap'ed packet rings (PACKET_RX_RING/PACKET_TX_RING), which Cryo "
                    + "cannot dump yet");
        }
        try (SocketFd s = SocketFd.take(ctx.pid(), fd.fd())) {
            var e = packet_sock_entry.newBuilder().setId(id).setType(d.type()).setProtocol(d.protocol())
                    .setFlags(fd.flags() & ~RegularFile.O_CLOEXEC).setIfindex(d.ifindex()).setFown(RegularFile.noOwner())
                    .setOpts(SocketOptions.dump(s, false)).setVersion(d.version()).setReserve(d.reserve())
                    .setAuxData((d.flags() & PDI_AUXDATA) != 0).setOrigDev((d.flags() & PDI_ORIGDEV) != 0)
                    .setVnetHdr((d.flags() & PDI_VNETHDR) != 0).setLoss((d.flags() & PDI_LOSS) != 0)
                    .setTimestamp(d.tstamp()).setCopyThresh(d.copyThresh()).addAllMclist(d.mclist());
            if (d.fanout() != NO_FANOUT) {
                e.setFanout(d.fanout());
            }
            ctx.log().info("fd %d: packet socket, type %d, protocol %#x, ifindex %d, version %d, %d membership(s)%s",
                    fd.fd(), d.type(), d.protocol(), d.ifindex(), d.version(), d.mclist().size(),
                    d.fanout() != NO_FANOUT ? String.format(", fanout %#x", d.fanout()) : "");
            return file_entry.newBuilder().setType(fd_types.PACKETSK).setId(id).setPsk(e).build();
        } catch (SyscallException e) {
            throw new CryoException(where + ": dumping it failed: " + e.getMessage(), e);
        }
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        packet_sock_entry e = file.getPsk();
        String where = "cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " (packet socket, type " + e.getType()
                + ", protocol " + String.format("%#x", e.getProtocol()) + ", ifindex " + e.getIfindex() + ")";
        int protoNet = Short.toUnsignedInt(Short.reverseBytes((short) e.getProtocol()));
        String step = "socket(AF_PACKET)";
        try {
            int got = (int) ctx.syscall().call(step, Syscall.SOCKET, AF_PACKET, e.getType(), protoNet);
            try (SocketFd s = SocketFd.take(ctx.pid(), got)) {
                step = "its options";
                SocketOptions.restore(s, e.getOpts(), false);
                if (e.getVersion() != 0) {
                    s.setInt(SOL_PACKET, PACKET_VERSION, e.getVersion());
                }
                if (e.getReserve() != 0) {
                    s.setInt(SOL_PACKET, PACKET_RESERVE, e.getReserve());
                }
                if (e.getAuxData()) {
                    s.setInt(SOL_PACKET, PACKET_AUXDATA, 1);
                }
                if (e.getOrigDev()) {
                    s.setInt(SOL_PACKET, PACKET_ORIGDEV, 1);
                }
                if (e.getVnetHdr()) {
                    s.setInt(SOL_PACKET, PACKET_VNET_HDR, 1);
                }
                if (e.getLoss()) {
                    s.setInt(SOL_PACKET, PACKET_LOSS, 1);
                }
                if (e.getTimestamp() != 0) {
                    s.setInt(SOL_PACKET, PACKET_TIMESTAMP, e.getTimestamp());
                }
                if (e.getCopyThresh() != 0) {
                    s.setInt(SOL_PACKET, PACKET_COPY_THRESH, e.getCopyThresh());
                }
                if (e.getIfindex() != 0) {
                    step = "bind to interface " + e.getIfindex();
                    // sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8]
                    NativeBuffer a = NativeBuffer.allocate(20);
                    a.zero(0, 20);
                    a.buffer().putShort(0, (short) AF_PACKET);
                    a.buffer().putShort(2, (short) protoNet);
                    a.putInt(4, e.getIfindex());
                    Syscall.call("bind(AF_PACKET)", Syscall.BIND, s.fd(), a.address(), 20);
                }
                for (packet_mclist m : e.getMclistList()) {
                    step = "membership (type " + m.getType() + ") on interface " + m.getIndex();
                    // packet_mreq: ifindex, type (u16), alen (u16), address[8]
                    byte[] addr = m.getAddr().toByteArray();
                    NativeBuffer q = NativeBuffer.allocate(16);
                    q.zero(0, 16);
                    q.putInt(0, m.getIndex());
                    q.buffer().putShort(4, (short) m.getType());
                    q.buffer().putShort(6, (short) Math.min(8, addr.length));
                    q.put(8, java.util.Arrays.copyOf(addr, Math.min(8, addr.length)));
                    s.setBytes(SOL_PACKET, PACKET_ADD_MEMBERSHIP, q.bytes(0, 16));
                }
                if (e.hasFanout() && e.getFanout() != NO_FANOUT) {
                    step = String.format("fanout group %#x", e.getFanout());
                    s.setInt(SOL_PACKET, PACKET_FANOUT, e.getFanout());
                }
            }
            if ((e.getFlags() & Pipe.O_NONBLOCK) != 0) {
                ctx.syscall().call("fcntl(F_SETFL)", Syscall.FCNTL, got, Pipe.F_SETFL, Pipe.O_NONBLOCK);
            }
            return got;
        } catch (SyscallException x) {
            throw new CryoException(where + ": " + step + ": " + x.getMessage() + (x.errno() == 19 /* ENODEV */
                    ? " (no such interface in this network namespace)" : ""), x);
        }
    }
}
