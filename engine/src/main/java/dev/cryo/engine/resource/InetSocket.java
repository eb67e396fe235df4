package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.net.Connection;
import dev.cryo.engine.net.SockAddr;
import dev.cryo.engine.net.SocketFd;
import dev.cryo.engine.net.SocketOptions;
import dev.cryo.engine.net.SocketQueue;
import dev.cryo.engine.net.TcpRepair;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageEntry;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.inet_sk_entry;
import dev.cryo.image.proto.tcp_stream_entry;

import java.io.IOException;
import java.util.List;
import java.util.Set;

/**
 * TCP, UDP, UDP-Lite, raw and ICMP ping sockets, IPv4 and IPv6, with their IP options (IpOptions). Dump reads the
 * socket through a copy of the fd taken with pidfd_getfd;
 * connections, established or half-closed, go through TCP repair (with --tcp-established) into tcp-stream-INO.img. Restore builds
 * the socket in Cryo and puts it into the task the same way.
 */
public final class InetSocket implements FdKind {
    static final Set<String> PROTOCOLS = Set.of("TCP", "TCPv6", "UDP", "UDPv6", "UDP-Lite", "UDPLITEv6", "RAW", "RAWv6",
            "PING", "PINGv6");
    static final int IPPROTO_UDPLITE = 136, EADDRNOTAVAIL = 99;
    static final int SOCK_DGRAM = 2, SOCK_RAW = 3, IPPROTO_ICMP = 1, IPPROTO_ICMPV6 = 58;
    static final String[] TCP_STATES = {"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
            "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"};

    @Override
    public fd_types type() {
        return fd_types.INETSK;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.isSocket() && PROTOCOLS.contains(fd.extra().getOrDefault("sockproto", ""));
    }

    private static boolean tcp(FdInfo fd) {
        return fd.extra().getOrDefault("sockproto", "").startsWith("TCP");
    }

    private static String where(FdDumpContext ctx, FdInfo fd) {
        return "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.extra().get("sockproto") + " socket "
                + fd.target() + ")";
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        if (!tcp(fd)) {
            return;
        }
        try (SocketFd s = SocketFd.take(ctx.pid(), fd.fd())) {
            byte[] info = s.getBytes(SocketFd.IPPROTO_TCP, TcpRepair.TCP_INFO, 32);
            int state = info[0] & 0xff;
            if (TcpRepair.connected(state)) {
                if (!ctx.options().tcpEstablished() && !ctx.options().tcpClose()) {
                    throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the "
                            + (state == TcpRepair.TCP_ESTABLISHED ? "established TCP connection " : "TCP connection ")
                            + new Connection(s.name(), s.peer())
                            + (state == TcpRepair.TCP_ESTABLISHED ? "" : " in state " + stateName(state))
                            + "; use --tcp-established to checkpoint it (or --tcp-close to restore it closed)");
                }
            } else if (state == TcpRepair.TCP_LISTEN) {
                int pending = intAt(info, 24);
                if (pending > 0 && ctx.options().skipInFlight()) {
                    ctx.log().warn("fd %d: %d connection(s) on %s not yet accepted are left out (--skip-in-flight)",
                            fd.fd(), pending, s.name());
                } else if (pending > 0) {
                    throw new CryoException(where(ctx, fd) + " listens on " + s.name() + " with " + pending
                            + " connection(s) not yet accepted, which Cryo cannot dump yet; --skip-in-flight leaves them out");
                }
            } else if (state == TcpRepair.TCP_SYN_SENT) {
                if (!ctx.options().tcpEstablished() && !ctx.options().tcpClose()) {
                    throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is the TCP "
                            + "connection from " + s.name() + " to " + synDestination(ctx.pid(), fd.ino()) + " still "
                            + "opening (SYN_SENT); use --tcp-established to checkpoint it (or --tcp-close to restore "
                            + "it closed)");
                }
            } else if (state != TcpRepair.TCP_CLOSE) {
                SockAddr peer = s.peer();
                throw new CryoException(where(ctx, fd) + " is a TCP connection " + s.name()
                        + (peer != null ? " -> " + peer : "") + " in state " + stateName(state)
                        + ", which Cryo cannot dump yet");
            }
        } catch (SyscallException e) {
            throw new CryoException(where(ctx, fd) + " cannot be read: " + e.getMessage(), e);
        }
    }

    /**
     * As CRIU: a corked datagram (bytes sent but held back) is refused, and datagrams waiting to be read are
     * dropped, since the kernel has no way to put them back with their sender (they are counted in the log).
     */
    static void udpQueues(FdDumpContext ctx, FdInfo fd, SocketFd s, SockAddr local) throws CryoException, SyscallException {
        int unsent = s.outq();
        if (unsent > 0) {
            throw new CryoException(where(ctx, fd) + " on " + local + " holds a corked datagram of " + unsent
                    + " unsent bytes, which cannot be checkpointed; dump once it is sent");
        }
        List<SocketQueue.Packet> queued = SocketQueue.peekAll(s, false);
        queued.forEach(SocketQueue.Packet::closeFds);
        if (!queued.isEmpty()) {
            ctx.log().warn("fd %d: UDP socket %s: %d datagram(s) of %d bytes waiting to be read are dropped, as CRIU "
                    + "drops them", fd.fd(), local, queued.size(), queued.stream().mapToInt(p -> p.data().length).sum());
        }
    }

    /**
     * Echo replies a ping socket holds unread are dropped, as a UDP socket's datagrams are (CRIU drops them too): the
     * program sees those requests as lost. The kernel may not count them (no FIONREAD on some kernels): then nothing
     * is said.
     */
    private static void pingQueue(FdDumpContext ctx, FdInfo fd, SocketFd s, SockAddr local) {
        try {
            int queued = s.inq();
            if (queued > 0) {
                ctx.log().warn("fd %d: ICMP ping socket %s: %d bytes of echo replies waiting to be read are dropped, "
                        + "as CRIU drops them", fd.fd(), local, queued);
            }
        } catch (SyscallException e) {
            // not counted: nothing to say
        }
    }

    /**
     * Where a connection still opening (SYN_SENT) goes: getpeername has no answer for it yet, the task's
     * /proc/PID/net/tcp and tcp6 list it by inode. Their addresses are the kernel's 32-bit words printed in hex,
     * the words inet_sk_entry keeps.
     */
    static SockAddr synDestination(int pid, long ino) throws CryoException {
        for (String table : new String[]{"tcp", "tcp6"}) {
            try {
                for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/" + pid + "/net/" + table))) {
                    String[] f = line.trim().split("\\s+");
                    if (f.length < 10 || !f[9].equals(Long.toString(ino))) {
                        continue;
                    }
                    String[] remote = f[2].split(":");
                    List<Integer> words = new java.util.ArrayList<>();
                    for (int i = 0; i < remote[0].length(); i += 8) {
                        words.add((int) Long.parseLong(remote[0].substring(i, i + 8), 16));
                    }
                    return SockAddr.ofWords(table.equals("tcp") ? SockAddr.AF_INET : SockAddr.AF_INET6, words,
                            Integer.parseInt(remote[1], 16));
                }
            } catch (IOException | RuntimeException e) {
                throw new CryoException("cannot dump pid " + pid + ": cannot read /proc/" + pid + "/net/" + table
                        + " for the destination of socket:[" + ino + "]: " + e.getMessage(), e);
            }
        }
        throw new CryoException("cannot dump pid " + pid + ": socket:[" + ino + "] (SYN_SENT) is not in /proc/" + pid
                + "/net/tcp or tcp6: it changed while being dumped");
    }

    /**
     * An ICMP ping socket ({@code socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)}, or ICMPv6's): what ping and many
     * monitoring agents use without CAP_NET_RAW. Its "port" is the echo identifier the kernel puts in every request
     * it sends and by which it hands replies to it; the restore binds it again, so replies to requests sent before
     * the dump still reach it.
     */
    static boolean ping(int type, int proto) {
        return type == SOCK_DGRAM && (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6);
    }

    /** How the logs and errors name a socket of this type and protocol. */
    static String kindName(int type, int proto) {
        return proto == SocketFd.IPPROTO_TCP ? "TCP" : ping(type, proto) ? "ICMP ping" : type == SOCK_RAW ? "raw"
                : proto == IPPROTO_UDPLITE ? "UDP-Lite" : "UDP";
    }

    static String stateName(int state) {
        return state < TCP_STATES.length ? TCP_STATES[state] : Integer.toString(state);
    }

    static int intAt(byte[] b, int off) {
        return (b[off] & 0xff) | (b[off + 1] & 0xff) << 8 | (b[off + 2] & 0xff) << 16 | (b[off + 3] & 0xff) << 24;
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        SocketFd s = null;
        boolean keep = false;
        try {
            s = SocketFd.take(ctx.pid(), fd.fd());
            int family = s.getInt(SocketFd.SOL_SOCKET, SocketFd.SO_DOMAIN);
            int type = s.getInt(SocketFd.SOL_SOCKET, SocketFd.SO_TYPE);
            int proto = s.getInt(SocketFd.SOL_SOCKET, SocketFd.SO_PROTOCOL);
            boolean isTcp = proto == SocketFd.IPPROTO_TCP;
            SockAddr local = s.name();
            SockAddr peer = s.peer();
            int state;
            int backlog = 0;
            if (isTcp) {
                byte[] info = s.getBytes(SocketFd.IPPROTO_TCP, TcpRepair.TCP_INFO, 32);
                state = info[0] & 0xff;
                if (state == TcpRepair.TCP_LISTEN) {
                    backlog = intAt(info, 28);
                } else if (state == TcpRepair.TCP_SYN_SENT) {
                    peer = synDestination(ctx.pid(), fd.ino());
                }
            } else {
                state = peer != null ? TcpRepair.TCP_ESTABLISHED : TcpRepair.TCP_CLOSE;
            }
            var e = inet_sk_entry.newBuilder().setId(id).setIno((int) fd.ino()).setFamily(family).setType(type)
                    .setProto(proto).setState(state).setSrcPort(local.port()).setDstPort(peer == null ? 0 : peer.port())
                    .setFlags(fd.flags() & ~RegularFile.O_CLOEXEC).setBacklog(backlog).addAllSrcAddr(local.words())
                    .addAllDstAddr(peer == null ? SockAddr.ofWords(family, java.util.List.of(), 0).words() : peer.words())
                    .setFown(RegularFile.noOwner()).setOpts(SocketOptions.dump(s, isTcp));
            if (family == SockAddr.AF_INET6) {
                e.setV6Only(s.getInt(SocketFd.IPPROTO_IPV6, SocketFd.IPV6_V6ONLY) != 0);
            }
            e.setIpOpts(dev.cryo.engine.net.IpOptions.dump(s, family, type, proto));
            if (isTcp && !TcpRepair.connected(state)) {
                // a listener's Nagle and cork, which the connections it accepts inherit (a connection's are in its
                // stream image)
                e.setTcpOpts(dev.cryo.image.proto.tcp_opts_entry.newBuilder()
                        .setNodelay(TcpRepair.flag(s, TcpRepair.TCP_NODELAY)).setCork(TcpRepair.flag(s, TcpRepair.TCP_CORK)));
            }
            if (isTcp && TcpRepair.connected(state)) {
                SocketDump sd = SocketDump.of(ctx);
                sd.lock();
                sd.repair(s);
                keep = true;
                tcp_stream_entry t;
                try (TcpRepair.Stream stream = TcpRepair.dump(s, state)) {
                    ctx.images().writeTcpStream(fd.ino(), stream.entry(), stream.queues());
                    t = stream.entry();
                }
                ctx.log().info("fd %d: TCP %s -> %s%s, %d bytes to read, %d to send (%d unsent)", fd.fd(), local, peer,
                        state == TcpRepair.TCP_ESTABLISHED ? "" : " " + stateName(state), t.getInqLen(),
                        t.getOutqLen(), t.getUnsqLen());
            } else {
                if (ping(type, proto)) {
                    pingQueue(ctx, fd, s, local);
                } else if (!isTcp && type != SOCK_RAW) {
                    udpQueues(ctx, fd, s, local);
                } else if (!isTcp && s.inq() > 0) {
                    ctx.log().warn("fd %d: raw socket %s: the packets waiting to be read are dropped, as a UDP "
                            + "socket's are", fd.fd(), local);
                }
                ctx.log().info("fd %d: %s socket %s%s%s", fd.fd(), kindName(type, proto), local,
                        peer == null ? "" : " -> " + peer, isTcp ? " state " + stateName(state) : "");
            }
            return file_entry.newBuilder().setType(fd_types.INETSK).setId(id).setIsk(e).build();
        } catch (SyscallException | IOException e) {
            throw new CryoException(where(ctx, fd) + ": dumping it failed: " + e.getMessage(), e);
        } finally {
            if (s != null && !keep) {
                s.close();
            }
        }
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        inet_sk_entry e = file.getIsk();
        int family = e.getFamily();
        SockAddr local = SockAddr.ofWords(family, e.getSrcAddrList(), e.getSrcPort());
        SockAddr remote = SockAddr.ofWords(family, e.getDstAddrList(), e.getDstPort());
        boolean isTcp = e.getProto() == SocketFd.IPPROTO_TCP;
        SocketFd s = null;
        boolean held = false;
        try {
            s = openFor(ctx, fd, family, e.getType(), e.getProto()); // in the task's netns
            if (family == SockAddr.AF_INET6 && e.hasV6Only()) {
                s.setInt(SocketFd.IPPROTO_IPV6, SocketFd.IPV6_V6ONLY, e.getV6Only() ? 1 : 0);
            }
            if (e.hasIpOpts()) {
                dev.cryo.engine.net.IpOptions.restoreBeforeBind(s, family, e.getIpOpts());
            }
            SocketFd sock = s;
            int state = e.getState();
            if (isTcp && TcpRepair.connected(state)) {
                ImageEntry stream = ImageDir.open(ctx.options().imagesDir()).tcpStream(e.getIno());
                tcp_stream_entry t = (tcp_stream_entry) stream.message();
                TcpRepair.repair(s, true);
                TcpRepair.restore(s, t, stream.payload(), local, remote, state);
                SocketRestore r = SocketRestore.of(ctx);
                int pid = ctx.syscall().pid();
                r.hold(s, () -> {
                    TcpRepair.finish(sock, t, stream.payload(), state, local, remote, pid);
                    SocketOptions.restore(sock, e.getOpts(), true);
                    setFlags(sock, e.getFlags());
                });
                held = true;
                if (ctx.options().tcpClose()) {
                    r.abortLater(new Connection(local, remote));
                }
                ctx.log().info("fd %d: TCP %s -> %s%s restored, %d bytes to read, %d to send", fd.getFd(), local,
                        remote, state == TcpRepair.TCP_ESTABLISHED ? "" : " " + stateName(state), t.getInqLen(),
                        t.getOutqLen());
            } else {
                boolean bound = e.getSrcPort() != 0 || !local.words().stream().allMatch(w -> w == 0);
                if (bound) {
                    s.setInt(SocketFd.SOL_SOCKET, SocketFd.SO_REUSEADDR, 1);
                    try {
                        s.bind(local);
                    } catch (SyscallException x) {
                        if (x.errno() != EADDRNOTAVAIL || e.hasIpOpts() && e.getIpOpts().getFreebind()) {
                            throw x;
                        }
                        // bound to an address not of this host while IP_FREEBIND was on, turned off since: on for the
                        // bind only, as the program had it (zdtm sk-freebind-false)
                        dev.cryo.engine.net.IpOptions.freebind(s, family, true);
                        s.bind(local);
                        dev.cryo.engine.net.IpOptions.freebind(s, family, false);
                    }
                }
                if (isTcp && e.getState() == TcpRepair.TCP_LISTEN) {
                    s.listen(e.getBacklog());
                } else if (isTcp && e.getState() == TcpRepair.TCP_SYN_SENT) {
                    // nothing was exchanged yet: the connection starts again (a new SYN); a program blocked in
                    // connect() goes back into it and waits for this one
                    s.connectStarting(remote);
                    if (ctx.options().tcpClose()) {
                        SocketRestore.of(ctx).abortLater(new Connection(local, remote));
                    }
                } else if (!isTcp && (e.getDstPort() != 0 || !remote.words().stream().allMatch(w -> w == 0))) {
                    s.connect(remote); // a raw socket's peer has no port
                }
                SocketOptions.restore(s, e.getOpts(), isTcp);
                if (isTcp && e.hasTcpOpts()) {
                    TcpRepair.setNagle(s, e.getTcpOpts().getNodelay(), e.getTcpOpts().getCork());
                }
                setFlags(s, e.getFlags());
                ctx.log().info("fd %d: %s socket %s restored", fd.getFd(), kindName(e.getType(), e.getProto()), local);
            }
            if (e.hasIpOpts()) {
                dev.cryo.engine.net.IpOptions.restore(s, family, e.getType(), e.getProto(), e.getIpOpts());
            }
            return SocketRestore.inject(ctx, s);
        } catch (SyscallException | IOException ex) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " ("
                    + kindName(e.getType(), e.getProto()) + " " + local + (e.getDstPort() != 0 ? " -> " + remote : "")
                    + "): " + ex.getMessage(), ex);
        } finally {
            if (s != null && !held) {
                s.close();
            }
        }
    }

    /**
     * The socket, made in the task's network namespace. The kernel lets a process make a ping socket only when its
     * group is in the namespace's net.ipv4.ping_group_range (root is no exception): refused, the error says so.
     */
    private static SocketFd openFor(FdRestoreContext ctx, fdinfo_entry fd, int family, int type, int proto)
            throws SyscallException, CryoException {
        try {
            return SocketFd.openFor(ctx.syscall().pid(), family, type, proto);
        } catch (SyscallException ex) {
            if (ex.errno() != 13 /* EACCES */ || !ping(type, proto)) {
                throw ex;
            }
            throw new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd.getFd() + " (ICMP ping socket): "
                    + "the kernel refuses Cryo (group " + Syscall.raw(Syscall.GETEGID) + ") a ping socket, since the "
                    + "network namespace's net.ipv4.ping_group_range does not hold that group; widen the range there "
                    + "(sysctl net.ipv4.ping_group_range=\"0 2147483647\") and restore again", ex);
        }
    }

    /** O_NONBLOCK as {@code flags} has it; O_ASYNC as the file has it now ({@link FileOwner#restore} sets it). */
    static void setFlags(SocketFd s, int flags) throws SyscallException {
        long now = Syscall.call("fcntl(F_GETFL)", Syscall.FCNTL, s.fd(), FileOwner.F_GETFL);
        Syscall.call("fcntl(F_SETFL)", Syscall.FCNTL, s.fd(), SocketRestore.F_SETFL,
                (flags & Pipe.O_NONBLOCK) | (now & FileOwner.O_ASYNC));
    }
}
