package dev.cryo.engine.resource;

import com.google.protobuf.ByteString;
import dev.cryo.engine.CryoException;
import dev.cryo.engine.net.NetNamespace;
import dev.cryo.engine.net.SockAddr;
import dev.cryo.engine.net.SocketFd;
import dev.cryo.engine.net.SocketOptions;
import dev.cryo.engine.net.SocketQueue;
import dev.cryo.engine.net.UnixDiag;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.sk_opts_entry;
import dev.cryo.image.proto.sk_shutdown;
import dev.cryo.image.proto.unix_sk_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Unix sockets within the dumped process: socketpairs, bound, listening and connected sockets, their receive
 * queues (with descriptors passed by SCM_RIGHTS) in sk-queues.img. The peer of each socket comes from sock_diag;
 * a peer outside the tree is refused unless --ext-unix-sk, with which a datagram socket is reconnected to its
 * peer's name on restore, or unless the socket is named with --external unix[INO] (any type, as CRIU: the restore
 * takes it from --inherit-fd fd[N]:socket:[INO]). Restore is {@link UnixRestore}.
 */
public final class UnixSocket implements FdKind {
    static final int USK_EXTERN = 1;
    static final int TCP_ESTABLISHED = 1, TCP_CLOSE = 7, TCP_LISTEN = 10;
    static final int KCMP_FILE = 0;

    @Override
    public fd_types type() {
        return fd_types.UNIXSK;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.isSocket() && fd.extra().getOrDefault("sockproto", "").startsWith("UNIX"); // UNIX, UNIX-STREAM, ...
    }

    static long inode(FdInfo fd) {
        return Long.parseLong(fd.target().substring("socket:[".length(), fd.target().length() - 1));
    }

    static String typeName(int type) {
        return switch (type) {
            case SocketFd.SOCK_STREAM -> "stream";
            case SocketFd.SOCK_DGRAM -> "datagram";
            case SocketFd.SOCK_SEQPACKET -> "seqpacket";
            default -> "type " + type;
        };
    }

    static String describe(UnixDiag.Info d) {
        return d.named() ? d.address().toString() : "socket:[" + d.ino() + "]";
    }

    private static String where(FdDumpContext ctx, FdInfo fd, UnixDiag.Info d) {
        return "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (unix " + typeName(d.type()) + " socket "
                + describe(d) + ")";
    }

    /** One socket fd of a task of the tree. */
    private interface SocketVisit {
        void visit(int pid, FdInfo fd) throws IOException;
    }

    /** Every socket fd of the tree's tasks (a zombie has none). */
    private static void eachSocket(FdDumpContext ctx, SocketVisit visit) throws IOException {
        for (int pid : ctx.tasks().pids()) {
            List<FdInfo> fds;
            try {
                fds = ctx.proc().fds(pid);
            } catch (java.nio.file.NoSuchFileException | java.nio.file.AccessDeniedException zombie) {
                continue;
            }
            for (FdInfo f : fds) {
                if (f.isSocket()) {
                    visit.visit(pid, f);
                }
            }
        }
    }

    /** Inodes of the sockets the dumped tree holds (a socketpair between parent and child is inside it). */
    static Set<Long> held(FdDumpContext ctx) throws IOException {
        Set<Long> out = new HashSet<>();
        eachSocket(ctx, (pid, f) -> out.add(inode(f)));
        return out;
    }

    /**
     * The inodes of the sockets the messages queued in the tree's sockets carry (SCM_RIGHTS): a connection's other
     * end may be in flight, held by no process. Read once frozen, and only when a peer is held by no process.
     */
    static Set<Long> inFlight(FdDumpContext ctx) throws IOException {
        Set<Long> out = new HashSet<>();
        eachSocket(ctx, (pid, f) -> {
            try (SocketFd s = SocketFd.take(pid, f.fd())) {
                if (s.getInt(SocketFd.SOL_SOCKET, SocketFd.SO_DOMAIN) != SockAddr.AF_UNIX
                        || s.getInt(SocketFd.SOL_SOCKET, SocketFd.SO_ACCEPTCONN) != 0) {
                    return;
                }
                int type = s.getInt(SocketFd.SOL_SOCKET, SocketFd.SO_TYPE);
                if (type != SocketFd.SOCK_DGRAM && !s.connected()) {
                    return; // a stream or seqpacket socket that never connected: no queue (a peek is EINVAL)
                }
                for (SocketQueue.Packet p : SocketQueue.peekAll(s, type == SocketFd.SOCK_STREAM)) {
                    try {
                        for (int passed : p.fds()) {
                            String link = Files.readSymbolicLink(Path.of("/proc/self/fd/" + passed)).toString();
                            if (link.startsWith("socket:[")) {
                                out.add(Long.parseLong(link.substring(8, link.length() - 1)));
                            }
                        }
                    } finally {
                        p.closeFds();
                    }
                }
            } catch (SyscallException e) {
                throw new IOException("pid " + pid + " fd " + f.fd() + ": " + e.getMessage(), e);
            }
        });
        return out;
    }

    /** Runs while the process runs: its queues are read only once it is frozen (the peek offset is shared). */
    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        // through the dump's sock_diag socket of that namespace, which the frozen window then finds made
        SocketDump run = SocketDump.of(ctx);
        UnixDiag.Info d = run.unixDiag(ctx.pid(), inode(fd));
        checkShape(ctx, fd, d, () -> run.heldBeforeFreeze(d.peer()), null);
    }

    /** The held sockets' inodes, read when first needed. */
    private interface Held {
        Set<Long> get() throws IOException;
    }

    /**
     * Refusals that need no queue: connections not yet accepted, a peer outside the tree.
     *
     * @param inFlight the sockets in flight in the tree's queues (only once frozen); null before the freeze, when a
     *                 peer no process holds may be one, which the frozen dump then tells
     */
    private static void checkShape(FdDumpContext ctx, FdInfo fd, UnixDiag.Info d, Held heldSockets, Held inFlight)
            throws CryoException {
        if (d.state() == TCP_LISTEN && (d.rqueue() > 0 || !d.pending().isEmpty())) {
            checkPending(ctx, fd, d, heldSockets);
            return;
        }
        if (d.peer() == 0) {
            return;
        }
        Set<Long> held;
        try {
            held = heldSockets.get();
        } catch (IOException e) {
            throw new CryoException(where(ctx, fd, d) + ": cannot list its fds: " + e.getMessage(), e);
        }
        if (held.contains(d.peer())) {
            return;
        }
        int holder = Pipe.holderOutside(ctx, "socket:[" + d.peer() + "]");
        if (holder <= 0) {
            // no process holds the peer: perhaps a message of a queue of the tree carries it (SCM_RIGHTS)
            if (inFlight == null) {
                return; // told once frozen, when the queues can be read
            }
            try {
                if (inFlight.get().contains(d.peer())) {
                    return; // dumped with the message that carries it
                }
            } catch (IOException e) {
                throw new CryoException(where(ctx, fd, d) + ": cannot read the tree's socket queues: " + e.getMessage(), e);
            }
        }
        UnixDiag.Info peer;
        try {
            peer = SocketDump.of(ctx).unixDiag(ctx.pid(), d.peer());
        } catch (CryoException gone) {
            peer = null;
        }
        String peerText = "socket:[" + d.peer() + "]" + (peer != null && peer.named() ? " (" + peer.address() + ")" : "")
                + (holder > 0 ? ", held by pid " + holder : "");
        String base = where(ctx, fd, d) + " is connected to " + peerText + ", which is outside the dumped tree";
        if (namedExternal(ctx, d.ino())) {
            return; // as CRIU: the user takes care of its other end (--inherit-fd fd[N]:socket:[INO] on restore)
        }
        String half = "; a unix " + typeName(d.type()) + " connection cannot be restored without its other end: "
                + "dump with --external unix[" + d.ino() + "] and restore with --inherit-fd fd[N]:socket:[" + d.ino()
                + "], N an fd of cryo's connected to the new other end";
        if (!ctx.options().extUnixSk()) {
            throw new CryoException(base + (d.type() == SocketFd.SOCK_DGRAM
                    ? "; use --ext-unix-sk to dump it anyway (it is reconnected to that name on restore)"
                    : half + " (--ext-unix-sk reconnects only datagram sockets)"));
        }
        if (d.type() != SocketFd.SOCK_DGRAM) {
            throw new CryoException(base + half + " (--ext-unix-sk is not enough)");
        }
        if (peer == null || !peer.named()) {
            throw new CryoException(base + " and has no name to reconnect to on restore, even with --ext-unix-sk");
        }
    }

    /**
     * A listener's connections not yet accepted: dumped as CRIU dumps them when their connecting end is a socket of
     * the tree that wrote nothing yet. That end's entry names the listener as its peer, and the restore connects it
     * to the listener again, leaving the connection in its queue to be accepted. The kernel's half held by the queue
     * (the "embryo") is no task's: bytes written to it could only be read by accepting, which would change the
     * program's state, so they are refused, as CRIU refuses them; so is a connection from outside the tree.
     */
    private static void checkPending(FdDumpContext ctx, FdInfo fd, UnixDiag.Info d, Held heldSockets)
            throws CryoException {
        int count = Math.max(d.rqueue(), d.pending().size());
        String base = where(ctx, fd, d) + " listens with " + count + " connection(s) not yet accepted";
        if (d.pending().size() < d.rqueue()) {
            throw new CryoException(base + ", which Cryo cannot dump (the kernel names " + d.pending().size()
                    + " of them); dump once the program has accepted them");
        }
        Set<Long> held;
        try {
            held = heldSockets.get();
        } catch (IOException e) {
            throw new CryoException(where(ctx, fd, d) + ": cannot list its fds: " + e.getMessage(), e);
        }
        SocketDump run = SocketDump.of(ctx);
        // the kernel names each by its connecting end (the half in the queue has no inode until accepted)
        for (long client : d.pending()) {
            if (!held.contains(client)) {
                throw new CryoException(base + ", one of them from " + (client == 0 ? "a socket already closed"
                        : "socket:[" + client + "], outside the dumped tree") + ", which Cryo cannot dump: its other "
                        + "end would be missing; dump once the program has accepted it");
            }
            UnixDiag.Info c;
            try {
                c = run.unixDiag(ctx.pid(), client);
            } catch (CryoException gone) {
                continue; // closed meanwhile: the frozen dump sees the queue as it is then
            }
            if (c.wqueue() > 0) {
                throw new CryoException(base + ": socket:[" + client + "] of the tree wrote to its connection ("
                        + c.wqueue() + " bytes of kernel buffers), which only accepting it could read; dump once the "
                        + "program has accepted it (CRIU refuses it too)");
            }
        }
    }

    /**
     * The listener of the tree whose queue holds the other end of {@code d}, a connection not yet accepted; null
     * when {@code d}'s peer is no such thing.
     */
    private static UnixDiag.Info listenerHolding(FdDumpContext ctx, UnixDiag.Info d) throws IOException {
        if (d.type() == SocketFd.SOCK_DGRAM || d.state() != TCP_ESTABLISHED || d.peer() != 0) {
            return null; // its other half has no inode until accepted: the kernel shows such a peer as 0
        }
        return SocketDump.of(ctx).listenersOfPending(ctx.pid()).get(d.ino());
    }

    /**
     * Whether the user named the socket of inode {@code ino} (the tree's end) as external: {@code --external
     * unix[INO]} or {@code --ext-unix-sk=INO}. CRIU dumps such a socket whatever its other end, which the restore
     * must then be given ({@code --inherit-fd fd[N]:socket:[INO]}).
     */
    static boolean namedExternal(FdDumpContext ctx, long ino) {
        return ctx.options().files().external().contains("unix[" + ino + "]");
    }

    /**
     * For each descriptor a queued message carries, a task of the tree that holds it and its fd number there: the
     * socket's own task first, then the others (a file passed to a sibling, that its sender still holds); {pids, fds}.
     * One no task holds (only the queue has it) is dumped from Cryo's copy: pid 0, and its files.img id.
     */
    static int[][] passedFds(FdDumpContext ctx, FdInfo fd, UnixDiag.Info d, SocketQueue.Packet p) throws CryoException {
        int[][] out = {new int[p.fds().length], new int[p.fds().length]};
        if (p.fds().length == 0) {
            return out;
        }
        List<Integer> tasks = new java.util.ArrayList<>();
        tasks.add(ctx.pid());
        ctx.tasks().pids().stream().filter(t -> t != ctx.pid()).sorted().forEach(tasks::add);
        java.util.Map<Integer, List<FdInfo>> fdsOf = new java.util.HashMap<>();
        long me = ProcessHandle.current().pid();
        tasks.remove(Integer.valueOf((int) me)); // a socket dumped from Cryo's copy: its fds are no task's
        for (int i = 0; i < p.fds().length; i++) {
            int ours = p.fds()[i];
            int theirs = -1;
            for (int task : tasks) {
                List<FdInfo> fds = fdsOf.get(task);
                if (fds == null) {
                    try {
                        fds = ctx.proc().fds(task);
                    } catch (IOException e) {
                        if (task != ctx.pid()) {
                            continue; // a zombie's, or gone: it holds nothing
                        }
                        throw new CryoException(where(ctx, fd, d) + ": cannot list its fds: " + e.getMessage(), e);
                    }
                    fdsOf.put(task, fds);
                }
                for (FdInfo f : fds) {
                    if (Syscall.raw(Syscall.KCMP, me, task, KCMP_FILE, ours, f.fd()) == 0) {
                        theirs = f.fd();
                        out[0][i] = task;
                        break;
                    }
                }
                if (theirs >= 0) {
                    break;
                }
            }
            if (theirs < 0) {
                out[0][i] = 0; // only the queue holds it
                out[1][i] = SocketDump.of(ctx).inFlight(ctx, ours, where(ctx, fd, d));
            } else {
                out[1][i] = theirs;
            }
        }
        return out;
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        SocketDump run = SocketDump.of(ctx);
        UnixDiag.Info d = run.unixDiag(ctx.pid(), inode(fd));
        checkShape(ctx, fd, d, run::heldWhileFrozen, run::inFlightSockets);
        try (SocketFd s = SocketFd.take(ctx.pid(), fd.fd())) {
            var e = unix_sk_entry.newBuilder().setId(id).setIno((int) d.ino()).setType(d.type()).setState(d.state())
                    .setFlags(fd.flags() & ~RegularFile.O_CLOEXEC).setUflags(0)
                    .setBacklog(d.state() == TCP_LISTEN ? d.wqueue() : 0).setPeer((int) d.peer())
                    .setFown(RegularFile.noOwner()).setOpts(SocketOptions.dump(s, false))
                    .setName(ByteString.copyFrom(d.name())).setShutdown(sk_shutdown.forNumber(d.shutdown() & 3));
            if (d.named() && !d.address().isAbstract()) {
                String name = d.address().toString();
                Path file = Path.of(name);
                if (!file.isAbsolute()) {
                    String cwd = ctx.proc().link(ctx.pid(), "cwd");
                    e.setNameDir(cwd);
                    file = Path.of(cwd).resolve(name);
                }
                e.setDeleted(!socketFile(file, d.vfsIno()));
                if (!e.getDeleted()) {
                    // its file's mode and owner (a server's chmod/chown of its socket, who may connect): made again
                    try {
                        java.util.Map<String, Object> st = Files.readAttributes(file, "unix:mode,uid,gid",
                                java.nio.file.LinkOption.NOFOLLOW_LINKS);
                        e.setFilePerms(dev.cryo.image.proto.file_perms_entry.newBuilder()
                                .setMode((Integer) st.get("mode")).setUid((Integer) st.get("uid"))
                                .setGid((Integer) st.get("gid")));
                    } catch (IOException gone) {
                        // removed meanwhile: nothing to keep
                    }
                }
            }
            UnixDiag.Info listener = listenerHolding(ctx, d);
            if (listener != null) {
                // not accepted yet: its peer is the listener, as CRIU writes it; the restore connects it again
                e.setPeer((int) listener.ino());
                ctx.log().info("fd %d: unix %s socket %s: a connection to %s not accepted yet", fd.fd(),
                        typeName(d.type()), describe(d), describe(listener));
            } else if (d.peer() != 0 && !run.heldWhileFrozen().contains(d.peer())
                    && !run.inFlightSockets().contains(d.peer())) {
                UnixDiag.Info p = run.unixDiag(ctx.pid(), d.peer());
                // the other end as CRIU writes it: a stand-in, a datagram socket in the listening state, that only
                // names it (CRIU's restore resolves the peer only among such entries; Cryo's reads only its name)
                run.externalPeer(unix_sk_entry.newBuilder().setIno((int) p.ino()).setType(SocketFd.SOCK_DGRAM)
                        .setState(TCP_LISTEN)
                        .setFlags(0).setUflags(USK_EXTERN).setBacklog(0).setPeer(0).setFown(RegularFile.noOwner())
                        .setOpts(sk_opts_entry.newBuilder().setSoSndbuf(0).setSoRcvbuf(0).setSoSndTmoSec(0)
                                .setSoSndTmoUsec(0).setSoRcvTmoSec(0).setSoRcvTmoUsec(0))
                        .setName(ByteString.copyFrom(p.name())));
                ctx.log().info("fd %d: unix %s socket %s connected to %s outside the tree (%s)", fd.fd(),
                        typeName(d.type()), describe(d), describe(p), namedExternal(ctx, d.ino())
                                ? "--external unix[" + d.ino() + "]: --inherit-fd gives it back" : "--ext-unix-sk");
            }
            int count = 0, bytes = 0;
            // a listener's queue is its connections; a stream or seqpacket socket that never connected has none
            List<SocketQueue.Packet> queue = d.state() == TCP_LISTEN
                    || d.type() != SocketFd.SOCK_DGRAM && d.state() == TCP_CLOSE ? List.of()
                    : SocketQueue.peekAll(s, d.type() == SocketFd.SOCK_STREAM);
            for (SocketQueue.Packet p : queue) {
                try {
                    run.queue(id, p.data(), passedFds(ctx, fd, d, p));
                    count++;
                    bytes += p.data().length;
                } finally {
                    p.closeFds();
                }
            }
            ctx.log().info("fd %d: unix %s socket %s state %d peer %d, %d message(s) of %d bytes queued", fd.fd(),
                    typeName(d.type()), describe(d), d.state(), d.peer(), count, bytes);
            return file_entry.newBuilder().setType(fd_types.UNIXSK).setId(id).setUsk(e).build();
        } catch (SyscallException | IOException e) {
            throw new CryoException(where(ctx, fd, d) + ": dumping it failed: " + e.getMessage(), e);
        }
    }

    /** Whether {@code file} is still the socket file the socket was bound to. */
    static boolean socketFile(Path file, long vfsIno) {
        try {
            Object ino = Files.getAttribute(file, "unix:ino", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            return vfsIno == 0 || ((Number) ino).longValue() == vfsIno;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        return UnixRestore.of(ctx).inject(ctx, file, fd);
    }
}
