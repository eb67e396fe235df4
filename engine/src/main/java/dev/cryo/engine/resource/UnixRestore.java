package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.net.SockAddr;
import dev.cryo.engine.net.SocketFd;
import dev.cryo.engine.net.SocketOptions;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageEntry;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.scm_entry;
import dev.cryo.image.proto.sk_packet_entry;
import dev.cryo.image.proto.unix_sk_entry;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The unix sockets of one restore, all built in Cryo at the first one's turn, because connections need both
 * ends (and a listener) at once: listeners and bound sockets first, then connected pairs (through their own
 * listener when there is one, as a socketpair otherwise), then one-way datagram connections. Each fd then gets
 * its socket injected. Queues are refilled once every fd of the task exists, since a queued message may carry
 * any of them: each socket's queue is written by its peer (or sent to its name), then shutdowns and options.
 */
final class UnixRestore {
    private static final String STATE = "unix-restore";
    static final int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;

    private final Map<Integer, unix_sk_entry> byId = new LinkedHashMap<>();
    private final Map<Long, unix_sk_entry> byIno = new HashMap<>();
    private final Map<Integer, SocketFd> built = new HashMap<>();
    /** Sockets that write into a socket's queue when its peer is not one of the task's (a closed peer's stand-in). */
    private final Map<Integer, SocketFd> feeders = new HashMap<>();
    private final List<SocketFd> ours = new ArrayList<>();
    /** sockets the restorer's fds stand for (--inherit-fd fd[N]:socket:[INO]): not built here */
    private final java.util.Set<Integer> inherited = new java.util.HashSet<>();
    /**
     * A task of the tree as Cryo sees it: the sockets are made in its network namespace (every task shares the
     * root's), where their abstract names live and where a later dump's sock_diag finds them.
     */
    private int nsPid;

    static UnixRestore of(FdRestoreContext ctx) throws CryoException {
        UnixRestore r = (UnixRestore) ctx.state().get(STATE);
        if (r == null) {
            r = new UnixRestore();
            ctx.state().put(STATE, r);
            r.build(ctx);
        }
        return r;
    }

    private String where(FdRestoreContext ctx, unix_sk_entry e) {
        return "cannot restore pid " + ctx.pid() + ": unix " + UnixSocket.typeName(e.getType()) + " socket "
                + (e.getName().isEmpty() ? "socket:[" + Integer.toUnsignedString(e.getIno()) + "]" : name(e));
    }

    private static String name(unix_sk_entry e) {
        return new SockAddr(SockAddr.AF_UNIX, e.getName().toByteArray(), 0).toString();
    }

    private void build(FdRestoreContext ctx) throws CryoException {
        nsPid = ctx.syscall().pid();
        try {
            for (file_entry f : ImageDir.open(ctx.options().imagesDir()).files()) {
                if (f.hasUsk()) {
                    byId.put(f.getId(), f.getUsk());
                    byIno.put(Integer.toUnsignedLong(f.getUsk().getIno()), f.getUsk());
                    if (InheritedFds.match(ctx, f) != null) {
                        inherited.add(f.getId());
                    }
                }
            }
        } catch (IOException e) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": reading files.img failed: " + e.getMessage(), e);
        }
        SocketRestore.of(ctx).later(() -> fill(ctx), this::close);
        unix_sk_entry current = null;
        try {
            // bound and listening sockets, and those whose peer is gone or outside
            for (unix_sk_entry e : byId.values()) {
                current = e;
                if (inherited.contains(e.getId())) {
                    continue;
                }
                unix_sk_entry outside = e.getPeer() != 0 && peerOf(e) != null && external(peerOf(e)) ? peerOf(e) : null;
                if (outside != null && e.getType() != SocketFd.SOCK_DGRAM) {
                    String ino = Integer.toUnsignedString(e.getIno());
                    throw new CryoException(where(ctx, e) + " was connected to socket:["
                            + Integer.toUnsignedString(outside.getIno()) + "] outside the dumped tree (dumped with "
                            + "--external unix[" + ino + "]), and a " + UnixSocket.typeName(e.getType()) + " connection "
                            + "cannot be made again without its other end; restore with --inherit-fd fd[N]:socket:["
                            + ino + "], N an fd of cryo's connected to its new other end");
                }
                if (external(e) || (e.getPeer() != 0 && peerOf(e) != null && !external(peerOf(e)))) {
                    continue;
                }
                // an unbound datagram socket connected to one closed since (one end of a socketpair) is rebuilt as a
                // pair too: the messages the closed end left in its queue are written from the stand-in, and a send
                // after the restore meets the closed peer (ECONNREFUSED) as it would have
                boolean deadPairEnd = e.getType() == SocketFd.SOCK_DGRAM && e.getName().isEmpty();
                if (e.getPeer() != 0 || e.getState() != UnixSocket.TCP_ESTABLISHED
                        || e.getType() == SocketFd.SOCK_DGRAM && !deadPairEnd) {
                    SocketFd s = fresh(e);
                    bind(ctx, e, s);
                    if (e.getState() == UnixSocket.TCP_LISTEN) {
                        s.listen(e.getBacklog());
                    }
                    if (e.getPeer() != 0) {
                        connect(ctx, e, s, peerOf(e));
                    }
                } else {
                    // a connection whose other end was closed: a pair, the stand-in end closed after the refill
                    SocketFd[] pair = SocketFd.pairFor(nsPid, e.getType() | 02000000);
                    keep(e, pair[0]);
                    ours.add(pair[1]);
                    feeders.put(e.getId(), pair[1]);
                }
            }
            // pairs connected both ways
            for (unix_sk_entry e : byId.values()) {
                current = e;
                unix_sk_entry p = peerOf(e);
                // a datagram socket connected to its own name is no pair: the one-way connections below make it
                if (built.containsKey(e.getId()) || external(e) || p == null || p == e || p.getPeer() != e.getIno()
                        || inherited.contains(e.getId()) || inherited.contains(p.getId())) {
                    continue;
                }
                unix_sk_entry listener = e.getType() != SocketFd.SOCK_DGRAM ? listenerFor(e, p) : null;
                if (listener != null) {
                    unix_sk_entry accepted = e.getName().equals(listener.getName()) ? e : p;
                    unix_sk_entry client = accepted == e ? p : e;
                    SocketFd c = fresh(client);
                    bind(ctx, client, c);
                    c.connect(address(ctx, listener));
                    SocketFd a = built.get(listener.getId()).accept();
                    keep(accepted, a);
                } else {
                    SocketFd[] pair = SocketFd.pairFor(nsPid, e.getType() | 02000000);
                    keep(e, pair[0]);
                    keep(p, pair[1]);
                    if (e.getType() == SocketFd.SOCK_DGRAM) {
                        bind(ctx, e, pair[0]);
                        bind(ctx, p, pair[1]);
                    }
                }
            }
            // one-way datagram connections, now that every name is bound
            for (unix_sk_entry e : byId.values()) {
                current = e;
                if (!built.containsKey(e.getId()) && !external(e) && !inherited.contains(e.getId())) {
                    SocketFd s = fresh(e);
                    bind(ctx, e, s);
                    connect(ctx, e, s, peerOf(e));
                }
            }
        } catch (SyscallException | IOException ex) {
            throw new CryoException(where(ctx, current) + ": " + ex.getMessage(), ex);
        } finally {
            for (Path f : deletedNames) { // deleted again once the sockets that reach them are connected
                try {
                    Files.deleteIfExists(f);
                } catch (IOException ex) {
                    ctx.log().warn("cannot remove %s again: %s", f, ex.getMessage());
                }
            }
            deletedNames.clear();
        }
    }

    /**
     * Names whose files were deleted at the dump (a server that unlinked its socket file with clients connected to it):
     * bound again, so that the tree's clients can connect to them, and deleted once they have.
     */
    private final List<Path> deletedNames = new ArrayList<>();

    private static boolean external(unix_sk_entry e) {
        return (e.getUflags() & UnixSocket.USK_EXTERN) != 0;
    }

    private unix_sk_entry peerOf(unix_sk_entry e) {
        return e.getPeer() == 0 ? null : byIno.get(Integer.toUnsignedLong(e.getPeer()));
    }

    /** The task's own listener whose name one end of a stream connection carries (the accepted end). */
    private unix_sk_entry listenerFor(unix_sk_entry a, unix_sk_entry b) {
        for (unix_sk_entry l : byId.values()) {
            if (l.getState() == UnixSocket.TCP_LISTEN && !l.getName().isEmpty() && built.containsKey(l.getId())
                    && (l.getName().equals(a.getName()) || l.getName().equals(b.getName()))) {
                return l;
            }
        }
        return null;
    }

    private SocketFd fresh(unix_sk_entry e) throws SyscallException {
        SocketFd s = SocketFd.openFor(nsPid, SockAddr.AF_UNIX, e.getType() | 02000000, 0);
        keep(e, s);
        return s;
    }

    private void keep(unix_sk_entry e, SocketFd s) {
        built.put(e.getId(), s);
        ours.add(s);
    }

    /** The address to bind or reach: a relative path is taken from the directory it was bound in. */
    private static SockAddr address(FdRestoreContext ctx, unix_sk_entry e) {
        byte[] name = e.getName().toByteArray();
        if (e.hasNameDir() && name.length > 0 && name[0] != 0) {
            name = Path.of(e.getNameDir()).resolve(new String(name, StandardCharsets.UTF_8)).toString()
                    .getBytes(StandardCharsets.UTF_8);
        }
        return new SockAddr(SockAddr.AF_UNIX, name, 0);
    }

    private void bind(FdRestoreContext ctx, unix_sk_entry e, SocketFd s) throws SyscallException, IOException {
        if (e.getName().isEmpty()) {
            return;
        }
        SockAddr a = address(ctx, e);
        Path file = null;
        if (!a.isAbstract()) {
            file = Path.of(a.toString());
            if (Files.exists(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                int mode = (Integer) Files.getAttribute(file, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
                if ((mode & 0170000) != 0140000) {
                    throw new IOException(file + " exists and is not a socket; move it away to restore");
                }
                Files.delete(file); // the dumped socket's file, left behind when it closed
            }
        }
        s.bind(a);
        if (file != null && e.getDeleted()) {
            deletedNames.add(file);
        } else if (file != null && e.hasFilePerms()) {
            // the bind made it Cryo's, with Cryo's umask: the program's chmod/chown (who may connect) again
            dev.cryo.engine.sys.DirectFiles.chownChmod(file.toString(), e.getFilePerms().getUid(),
                    e.getFilePerms().getGid(), e.getFilePerms().getMode());
        }
    }

    private void connect(FdRestoreContext ctx, unix_sk_entry e, SocketFd s, unix_sk_entry peer) throws SyscallException {
        if (peer == null) {
            throw new SyscallException("its peer socket:[" + Integer.toUnsignedString(e.getPeer())
                    + "] is missing from the images", 22);
        }
        try {
            s.connect(address(ctx, peer));
        } catch (SyscallException x) {
            throw new SyscallException("reconnecting to " + name(peer) + (external(peer) ? " (outside the tree)" : "")
                    + " failed, is it still there?", x.errno());
        }
        if (external(peer)) {
            ctx.log().info("unix socket %s reconnected to %s outside the tree", name(e), name(peer));
        }
    }

    int inject(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        SocketFd s = built.get(file.getId());
        if (s == null) {
            throw new CryoException(where(ctx, file.getUsk()) + " at fd " + fd.getFd() + ": it was not built");
        }
        try {
            return SocketRestore.inject(ctx, s);
        } catch (SyscallException e) {
            throw new CryoException(where(ctx, file.getUsk()) + " at fd " + fd.getFd() + ": " + e.getMessage(), e);
        }
    }

    /** The files.img ids of the descriptors the queues of sk-queues.img pass (SCM_RIGHTS); none without it. */
    static java.util.Set<Integer> passedFileIds(ImageDir dir) throws CryoException {
        java.util.Set<Integer> out = new java.util.TreeSet<>();
        try {
            if (dir.exists(SocketDump.SK_QUEUES)) {
                for (ImageEntry r : dir.read(SocketDump.SK_QUEUES).records()) {
                    for (scm_entry scm : ((sk_packet_entry) r.message()).getScmList()) {
                        if (scm.getType() == SocketFd.SCM_RIGHTS) {
                            out.addAll(scm.getRightsList());
                        }
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new CryoException("cannot restore: reading " + SocketDump.SK_QUEUES + " failed: " + e.getMessage(), e);
        }
        return out;
    }

    /** Refills queues, then shutdowns, options and flags; runs once every fd exists. Closes Cryo's copies. */
    private void fill(FdRestoreContext ctx) throws CryoException {
        SocketFd loose = null;
        unix_sk_entry current = null;
        try {
            ImageDir dir = ImageDir.open(ctx.options().imagesDir());
            if (dir.exists(SocketDump.SK_QUEUES)) {
                for (ImageEntry r : dir.read(SocketDump.SK_QUEUES).records()) {
                    sk_packet_entry p = (sk_packet_entry) r.message();
                    current = byId.get(p.getIdFor());
                    if (current == null || !built.containsKey(current.getId())) {
                        continue; // a queue of another kind of socket
                    }
                    List<Integer> rights = new ArrayList<>();
                    for (scm_entry scm : p.getScmList()) {
                        if (scm.getType() == SocketFd.SCM_RIGHTS) {
                            rights.addAll(scm.getRightsList());
                        }
                    }
                    int[] fds = new int[rights.size()];
                    try {
                        for (int i = 0; i < fds.length; i++) {
                            // every passed file is a shared one: whoever made it (or the first task built, for one
                            // only the queue held) left Cryo a copy
                            Integer cryos = SharedFiles.of(ctx).held(rights.get(i));
                            if (cryos == null) {
                                throw new SyscallException("a passed descriptor (file id " + rights.get(i)
                                        + ") was not made by any task", 9);
                            }
                            fds[i] = (int) Syscall.call("fcntl(F_DUPFD_CLOEXEC)", Syscall.FCNTL, cryos,
                                    1030 /* F_DUPFD_CLOEXEC */, 0);
                        }
                        SocketFd from = feeders.get(current.getId());
                        SockAddr to = null;
                        unix_sk_entry peer = peerOf(current);
                        if (from == null && peer != null && built.containsKey(peer.getId())) {
                            from = built.get(peer.getId());
                            to = peer.getPeer() == current.getIno() ? null : address(ctx, current);
                        }
                        if (from == null) {
                            if (current.getName().isEmpty()) {
                                ctx.log().warn("%s: a queued message has no sender to write it, dropped", where(ctx, current));
                                continue;
                            }
                            if (loose == null) {
                                loose = SocketFd.openFor(nsPid, SockAddr.AF_UNIX, current.getType() | 02000000, 0);
                            }
                            from = loose;
                            to = address(ctx, current);
                        }
                        send(from, r.payload(), fds, to, current.getType());
                    } finally {
                        for (int f : fds) {
                            if (f > 0) {
                                Syscall.raw(Syscall.CLOSE, f);
                            }
                        }
                    }
                }
            }
            for (unix_sk_entry e : byId.values()) {
                current = e;
                SocketFd s = built.get(e.getId());
                if (s == null) {
                    continue;
                }
                int how = switch (e.getShutdown().getNumber() & 3) {
                    case 1 -> SHUT_RD;
                    case 2 -> SHUT_WR;
                    case 3 -> SHUT_RDWR;
                    default -> -1;
                };
                if (how >= 0) {
                    Syscall.raw(Syscall.SHUTDOWN, s.fd(), how); // an unconnected socket has nothing to shut: ENOTCONN is fine
                }
                SocketOptions.restore(s, e.getOpts(), false);
                InetSocket.setFlags(s, e.getFlags());
            }
        } catch (IOException e) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": reading " + SocketDump.SK_QUEUES
                    + " failed: " + e.getMessage(), e);
        } catch (SyscallException e) {
            throw new CryoException((current != null ? where(ctx, current) : "cannot restore pid " + ctx.pid())
                    + ": refilling its queue failed: " + e.getMessage(), e);
        } finally {
            if (loose != null) {
                loose.close();
            }
            ours.forEach(SocketFd::close);
        }
    }

    private static void send(SocketFd from, byte[] data, int[] fds, SockAddr to, int type) throws SyscallException {
        int n = from.sendMessage(data, fds, to);
        if (n < data.length) {
            if (type != SocketFd.SOCK_STREAM) {
                throw new SyscallException("a queued message went out short (" + n + " of " + data.length + " bytes)", 90);
            }
            from.sendAll(data, n, data.length - n);
        }
    }

    /** After a failed restore. */
    void close() {
        ours.forEach(SocketFd::close);
    }
}
