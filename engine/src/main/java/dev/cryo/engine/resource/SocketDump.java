package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.net.Connection;
import dev.cryo.engine.net.NetNamespace;
import dev.cryo.engine.net.NetworkLock;
import dev.cryo.engine.net.SocketFd;
import dev.cryo.engine.net.TcpRepair;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageEntry;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.scm_entry;
import dev.cryo.image.proto.sk_packet_entry;
import dev.cryo.image.proto.unix_sk_entry;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The sockets of one dump that outlive their fd's dump: connections in repair mode and the network lock. Released
 * once the dump ends: on success the sockets close silently with the process and the lock stays for the restore;
 * with -R or on failure repair is turned off and the lock removed.
 */
public final class SocketDump {
    private static final Map<DumpedTasks, SocketDump> RUNS = Collections.synchronizedMap(new IdentityHashMap<>());

    private final FdDumpContext ctx;
    private final List<SocketFd> repaired = new ArrayList<>();
    private final List<QueuedPacket> packets = new ArrayList<>();
    private final Map<Integer, unix_sk_entry.Builder> externalPeers = new LinkedHashMap<>();
    private boolean locked;
    /** The connections --network-lock iptables locked with CRIU's rules, or null. */
    private List<Connection> iptablesLocked;
    /** sock_diag sockets by network namespace (its /proc link's target), made once for the frozen window. */
    private final Map<String, SocketFd> diagSockets = new java.util.HashMap<>();
    /** The inodes of the sockets the tree holds, read once while it is frozen. */
    private Set<Long> heldWhileFrozen;

    /**
     * A queued message; each descriptor it passes named by a task of the tree that holds it and its fd there, or,
     * where no task holds it (pid 0), by the files.img id it was dumped with ({@link InFlight}).
     */
    record QueuedPacket(int[] pids, int idFor, byte[] data, int[] fds) {
    }

    /** Dumps a description only a queue holds, from Cryo's copy of it (kept open until the run ends); its id. */
    public interface InFlight {
        int dump(FdDumpContext ctx, int cryoFd) throws CryoException;
    }

    private InFlight inFlight;
    private final List<Integer> keptInFlight = new ArrayList<>();

    /** How the dump of {@code ctx}'s tree dumps a description only a unix socket's queue holds. */
    public static void onInFlight(FdDumpContext ctx, InFlight how) {
        of(ctx).inFlight = how;
    }

    /**
     * The files.img id of {@code cryoFd}, Cryo's copy of a descriptor a queued message passes that no task of the
     * tree holds (sent, then closed by its sender, not yet received): dumped as the kind it is, from a copy Cryo
     * keeps until the run ends (two such messages may pass one description).
     */
    int inFlight(FdDumpContext ctx, int cryoFd, String where) throws CryoException {
        if (inFlight == null) {
            throw new CryoException(where + " passes a descriptor no process of the tree holds, and this dump cannot "
                    + "dump one");
        }
        int kept = (int) Syscall.raw(Syscall.FCNTL, cryoFd, 1030 /* F_DUPFD_CLOEXEC */, 0);
        if (kept < 0) {
            throw new CryoException(where + ": cannot keep a copy of a descriptor in flight: "
                    + SyscallException.describe(-kept));
        }
        synchronized (this) {
            keptInFlight.add(kept);
        }
        return inFlight.dump(ctx, kept);
    }

    private SocketDump(FdDumpContext ctx) {
        this.ctx = ctx;
    }

    static SocketDump of(FdDumpContext ctx) {
        return RUNS.computeIfAbsent(ctx.tasks(), t -> new SocketDump(ctx.forTask(t.root())));
    }

    /** Locks every TCP connection (established or half-closed) of the tree at once, before the first goes into repair mode. */
    void lock() throws CryoException {
        if (locked) {
            return;
        }
        if ("skip".equals(ctx.options().networkLock())) {
            ctx.log().info("pid %d: no network lock (--network-lock skip): the caller holds the traffic", ctx.pid());
            return;
        }
        List<Connection> conns = new ArrayList<>();
        try {
            for (int pid : ctx.tasks().ordered()) {
              List<FdInfo> fds;
              try {
                  fds = ctx.proc().fds(pid);
              } catch (java.nio.file.NoSuchFileException | java.nio.file.AccessDeniedException zombie) {
                  continue;
              }
              for (FdInfo fd : fds) {
                String proto = fd.extra().getOrDefault("sockproto", "");
                if (!proto.startsWith("TCP")) {
                    continue;
                }
                try (SocketFd s = SocketFd.take(pid, fd.fd())) {
                    if (TcpRepair.connected(TcpRepair.state(s))) {
                        Connection c = new Connection(s.name(), s.peer());
                        if (!conns.contains(c)) {
                            conns.add(c);
                        }
                    }
                }
              }
            }
        } catch (IOException | SyscallException e) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": listing its connections for the network lock "
                    + "failed: " + e.getMessage(), e);
        }
        if ("iptables".equals(ctx.options().networkLock())) {
            // CRIU's rules, which CRIU's restore lifts too
            dev.cryo.engine.net.IptablesLock.lock(ctx.pid(), conns, NetNamespace.of(ctx.pid()), ctx.log());
            iptablesLocked = conns;
        } else {
            NetworkLock.lock(ctx.pid(), NetNamespace.of(ctx.pid()), conns, ctx.log());
        }
        locked = true;
    }

    /**
     * sock_diag of unix socket {@code ino} in task {@code pid}'s network namespace, through one socket per namespace
     * for the whole dump (a thread that joins the namespace and a new socket cost 1 to 3 ms a question). The run is
     * released when the dump ends, however it ends, and its sockets with it.
     */
    synchronized dev.cryo.engine.net.UnixDiag.Info unixDiag(int pid, long ino) throws CryoException {
        try {
            java.nio.file.Path ns = dev.cryo.engine.net.NetNamespace.of(pid);
            String key = java.nio.file.Files.readSymbolicLink(ns).toString();
            SocketFd nl = diagSockets.get(key);
            if (nl == null) {
                boolean here = java.nio.file.Files.isSameFile(ns, java.nio.file.Path.of("/proc/thread-self/ns/net"));
                nl = here ? dev.cryo.engine.net.UnixDiag.open()
                        : dev.cryo.engine.net.NetNamespace.call(ns, dev.cryo.engine.net.UnixDiag::open);
                diagSockets.put(key, nl);
            }
            return dev.cryo.engine.net.UnixDiag.of(nl, ino);
        } catch (Exception e) {
            throw new CryoException("cannot dump pid " + pid + ": sock_diag about unix socket:[" + ino + "] failed: "
                    + e.getMessage() + " (is CONFIG_UNIX_DIAG enabled?)", e);
        }
    }

    private Set<Long> inFlightSockets;

    /** The sockets the tree's queued messages carry, read once frozen when first needed ({@link UnixSocket#inFlight}). */
    synchronized Set<Long> inFlightSockets() throws java.io.IOException {
        if (inFlightSockets == null) {
            inFlightSockets = UnixSocket.inFlight(ctx);
        }
        return inFlightSockets;
    }

    private java.util.Map<Long, dev.cryo.engine.net.UnixDiag.Info> listenersOfPending;

    /**
     * For each unix connection of the frozen tree not yet accepted, by its connecting end's inode, the tree's listener
     * whose queue holds it (the kernel lists them by that end): read once, not for each socket that asks.
     */
    synchronized java.util.Map<Long, dev.cryo.engine.net.UnixDiag.Info> listenersOfPending(int pid)
            throws java.io.IOException {
        if (listenersOfPending == null) {
            var m = new java.util.HashMap<Long, dev.cryo.engine.net.UnixDiag.Info>();
            for (long ino : heldWhileFrozen()) {
                try {
                    dev.cryo.engine.net.UnixDiag.Info l = unixDiag(pid, ino);
                    if (l.state() == UnixSocket.TCP_LISTEN) {
                        l.pending().forEach(client -> m.put(client, l));
                    }
                } catch (CryoException gone) {
                    // not a unix socket, or closed: holds no queue
                }
            }
            listenersOfPending = m;
        }
        return listenersOfPending;
    }

    /** {@link UnixSocket#held}, read once: the frozen tree's fds do not change. */
    synchronized Set<Long> heldWhileFrozen() throws java.io.IOException {
        if (heldWhileFrozen == null) {
            heldWhileFrozen = UnixSocket.held(ctx);
        }
        return heldWhileFrozen;
    }

    /** {@link UnixSocket#held} while the tree still runs, for the checks before the freeze. */
    private Set<Long> heldBeforeFreeze;

    /**
     * {@link UnixSocket#held} for the checks before the freeze, read again only when {@code peer} is not in it (a
     * socket made since, or one outside the tree): listing every fd of the tree once a socket made a tree of a few
     * thousand sockets take minutes to check.
     */
    synchronized Set<Long> heldBeforeFreeze(long peer) throws java.io.IOException {
        if (heldBeforeFreeze == null || !heldBeforeFreeze.contains(peer)) {
            heldBeforeFreeze = UnixSocket.held(ctx);
        }
        return heldBeforeFreeze;
    }

    /** Turns repair on for a taken socket and keeps it until the dump ends. */
    void repair(SocketFd s) throws SyscallException {
        TcpRepair.repair(s, true);
        repaired.add(s);
    }

    synchronized void queue(int idFor, byte[] data, int[][] passed) {
        packets.add(new QueuedPacket(passed[0], idFor, data, passed[1]));
    }

    /** A unix socket outside the tree that a dumped one is connected to (--ext-unix-sk); one entry per inode. */
    synchronized void externalPeer(unix_sk_entry.Builder peer) {
        externalPeers.putIfAbsent(peer.getIno(), peer);
    }

    /**
     * Once every fd of every task has its files.img id: adds the entries of external unix peers to {@code files}
     * and writes sk-queues.img, naming passed descriptors by their file ids ({@code idOfFd}: task, fd -> id).
     */
    public static void collected(FdDumpContext ctx, java.util.function.BiFunction<Integer, Integer, Integer> idOfFd,
                                 List<file_entry> files) throws CryoException {
        SocketDump d = RUNS.get(ctx.tasks());
        if (d == null) {
            return;
        }
        // before the tree's unix sockets, as CRIU orders them: CRIU's restore of a socket given back with
        // --inherit-fd resolves its peer only among the entries read before it
        int at = 0;
        while (at < files.size() && files.get(at).getType() != fd_types.UNIXSK) {
            at++;
        }
        int next = files.size() + 1;
        for (unix_sk_entry.Builder peer : d.externalPeers.values()) {
            int id = next++;
            files.add(at++, file_entry.newBuilder().setType(fd_types.UNIXSK).setId(id).setUsk(peer.setId(id)).build());
        }
        if (d.packets.isEmpty()) {
            return;
        }
        List<ImageEntry> entries = new ArrayList<>();
        for (QueuedPacket p : d.packets) {
            var e = sk_packet_entry.newBuilder().setIdFor(p.idFor()).setLength(p.data().length);
            if (p.fds().length > 0) {
                var scm = scm_entry.newBuilder().setType(SocketFd.SCM_RIGHTS);
                for (int i = 0; i < p.fds().length; i++) {
                    scm.addRights(p.pids()[i] == 0 ? p.fds()[i] : idOfFd.apply(p.pids()[i], p.fds()[i]));
                }
                e.addScm(scm);
            }
            entries.add(new ImageEntry(e.build(), p.data()));
        }
        try {
            ctx.images().write(SK_QUEUES, ImageFile.ofRecords("SK_QUEUES", entries));
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": writing " + SK_QUEUES + " failed: "
                    + e.getMessage(), e);
        }
        ctx.log().info("%d queued socket message(s) written to %s", entries.size(), SK_QUEUES);
    }

    static final String SK_QUEUES = "sk-queues.img";

    /** Ends the dump's hold on sockets; {@code dumped} false after a failure. Never throws. */
    public static void release(FdDumpContext ctx, boolean dumped) {
        NetworkLock.closeOpened(ctx.pid(), ctx.log()); // the tree runs again: a lock opened before that goes now
        SocketDump d = RUNS.remove(ctx.tasks());
        if (d == null) {
            return;
        }
        synchronized (d) {
            d.diagSockets.values().forEach(SocketFd::close);
            d.diagSockets.clear();
            d.keptInFlight.forEach(fd -> Syscall.raw(Syscall.CLOSE, fd));
            d.keptInFlight.clear();
        }
        boolean keepClosed = dumped && !ctx.options().leaveRunning();
        for (SocketFd s : d.repaired) {
            if (!keepClosed) {
                try {
                    TcpRepair.repair(s, false);
                } catch (SyscallException e) {
                    ctx.log().error("cannot turn TCP repair off for a socket of pid %d: %s", ctx.pid(), e.getMessage());
                }
            }
            s.close();
        }
        if (d.locked && !keepClosed && d.iptablesLocked != null) {
            dev.cryo.engine.net.IptablesLock.unlock(d.iptablesLocked, NetNamespace.of(ctx.pid()), ctx.log());
        } else if (d.locked && !keepClosed) {
            // -R: opened at once, before the tree runs; the table itself goes at the next release, once it runs
            if (!dumped || !NetworkLock.open(ctx.pid(), NetNamespace.of(ctx.pid()), ctx.log())) {
                NetworkLock.unlock(ctx.pid(), NetNamespace.of(ctx.pid()), ctx.log());
            }
        }
    }
}
