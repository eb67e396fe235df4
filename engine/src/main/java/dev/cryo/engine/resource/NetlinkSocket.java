package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.net.SocketFd;
import dev.cryo.engine.net.SocketOptions;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.netlink_sk_entry;

/**
 * Netlink sockets ({@code NETLINK_ROUTE} as getaddrinfo and network daemons keep them, and the other protocols):
 * protocol, bound port id, multicast groups, the peer it is connected to, and the socket options, as
 * CRIU's netlink_sk_entry. Dump reads them through the socket taken with pidfd_getfd; restore makes the socket
 * in the new task and binds, joins and connects it from the engine through the same socket. Messages queued but
 * not read at dump time are not kept (logged): netlink is a datagram service whose senders resend or re-dump.
 */
public final class NetlinkSocket implements FdKind {
    static final int AF_NETLINK = 16, SOL_NETLINK = 270, NETLINK_ADD_MEMBERSHIP = 1, NETLINK_LIST_MEMBERSHIPS = 9;
    static final int MSG_PEEK = 2, MSG_DONTWAIT = 0x40, MSG_TRUNC = 0x20;

    @Override
    public fd_types type() {
        return fd_types.NETLINKSK;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.isSocket() && "NETLINK".equals(fd.extra().get("sockproto"));
    }

    /** sockaddr_nl: family, pad, port id, groups (12 bytes). */
    private static int[] address(SocketFd s, int call) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(16);
        b.putInt(12, 12);
        Syscall.call(call == Syscall.GETSOCKNAME ? "getsockname" : "getpeername", call, s.fd(), b.address(),
                b.address() + 12);
        return new int[]{b.getInt(4), b.getInt(8)};
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        String where = "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (netlink socket " + fd.target() + ")";
        try (SocketFd s = SocketFd.take(ctx.pid(), fd.fd())) {
            int protocol = s.getInt(SocketFd.SOL_SOCKET, SocketFd.SO_PROTOCOL);
            int type = s.getInt(SocketFd.SOL_SOCKET, SocketFd.SO_TYPE);
            int[] own = address(s, Syscall.GETSOCKNAME);
            int[] peer = address(s, Syscall.GETPEERNAME);
            var e = netlink_sk_entry.newBuilder().setId(id).setIno((int) UnixSocket.inode(fd)).setProtocol(protocol)
                    .setState(peer[0] != 0 || peer[1] != 0 ? 1 : 0).setFlags(fd.flags() & ~RegularFile.O_CLOEXEC)
                    .setPortid(own[0]).setDstPortid(peer[0]).setDstGroup(peer[1]).setFown(RegularFile.noOwner())
                    .setOpts(SocketOptions.dump(s, false));
            byte[] groups = s.getBytes(SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, 128);
            java.util.List<Integer> words = new java.util.ArrayList<>();
            for (int i = 0; i + 4 <= groups.length; i += 4) {
                words.add((groups[i] & 0xff) | (groups[i + 1] & 0xff) << 8 | (groups[i + 2] & 0xff) << 16
                        | (groups[i + 3] & 0xff) << 24);
            }
            while (!words.isEmpty() && words.get(words.size() - 1) == 0) {
                words.remove(words.size() - 1);
            }
            e.addAllGroups(words);
            NativeBuffer one = NativeBuffer.allocate(8);
            long queued = Syscall.raw(Syscall.RECVFROM, s.fd(), one.address(), 0, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC, 0, 0);
            if (queued >= 0) {
                ctx.log().warn("fd %d: netlink socket (protocol %d, port %d) has messages queued; they are not kept",
                        fd.fd(), protocol, Integer.toUnsignedLong(own[0]));
            }
            ctx.log().info("fd %d: netlink socket, type %d, protocol %d, port %d, groups %s, peer %d/%d", fd.fd(), type,
                    protocol, Integer.toUnsignedLong(own[0]), e.getGroupsList(), Integer.toUnsignedLong(peer[0]), peer[1]);
            return file_entry.newBuilder().setType(fd_types.NETLINKSK).setId(id).setNlsk(e).build();
        } catch (SyscallException e) {
            throw new CryoException(where + ": dumping it failed: " + e.getMessage(), e);
        }
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        netlink_sk_entry e = file.getNlsk();
        String where = "cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " (netlink socket, protocol "
                + e.getProtocol() + ", port " + Integer.toUnsignedLong(e.getPortid()) + ")";
        int type = 3; // SOCK_RAW, as CRIU makes them: for netlink SOCK_DGRAM is the same socket
        int flags = e.getFlags();
        try {
            int got = (int) ctx.syscall().call("socket(AF_NETLINK)", Syscall.SOCKET, AF_NETLINK, type, e.getProtocol());
            try (SocketFd s = SocketFd.take(ctx.pid(), got)) {
                SocketOptions.restore(s, e.getOpts(), false);
                int first = e.getGroupsCount() > 0 ? e.getGroups(0) : 0;
                if (e.getPortid() != 0 || first != 0) {
                    call(s, Syscall.BIND, e.getPortid(), first, "bind");
                }
                for (int i = 1; i < e.getGroupsCount(); i++) {
                    for (int bit = 0; bit < 32; bit++) {
                        if ((e.getGroups(i) & (1 << bit)) != 0) {
                            s.setInt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, i * 32 + bit + 1);
                        }
                    }
                }
                if (e.getDstPortid() != 0 || e.getDstGroup() != 0) {
                    call(s, Syscall.CONNECT, e.getDstPortid(), e.getDstGroup(), "connect");
                }
            }
            if ((flags & Pipe.O_NONBLOCK) != 0) {
                ctx.syscall().call("fcntl(F_SETFL)", Syscall.FCNTL, got, Pipe.F_SETFL, Pipe.O_NONBLOCK);
            }
            return got;
        } catch (SyscallException x) {
            throw new CryoException(where + ": " + x.getMessage() + (x.errno() == 98 /* EADDRINUSE */
                    ? " (another socket holds that port id now)" : ""), x);
        }
    }

    /** bind() or connect() with a sockaddr_nl of {@code portid} and the groups bitmap {@code groups}. */
    private static void call(SocketFd s, int syscall, int portid, int groups, String what) throws SyscallException {
        NativeBuffer a = NativeBuffer.allocate(12);
        a.putInt(0, AF_NETLINK);
        a.putInt(4, portid);
        a.putInt(8, groups);
        Syscall.call(what + "(netlink)", syscall, s.fd(), a.address(), 12);
        java.lang.ref.Reference.reachabilityFence(a);
    }
}
