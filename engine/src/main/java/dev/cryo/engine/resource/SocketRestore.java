package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.net.Connection;
import dev.cryo.engine.net.NetworkLock;
import dev.cryo.engine.net.SockDestroy;
import dev.cryo.engine.net.SocketFd;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Sockets of one restore that need a last step once every fd is in place: connections leave repair mode, get
 * their unsent bytes and options, the network lock goes, and with --tcp-close they are aborted.
 */
public final class SocketRestore {
    private static final Map<Integer, SocketRestore> RUNS = Collections.synchronizedMap(new HashMap<>());
    static final int F_SETFD = 2, F_SETFL = 4;

    /** Work left for a socket after all fds exist. */
    interface Finish {
        void run() throws SyscallException, CryoException;
    }

    private final List<SocketFd> held = new ArrayList<>();
    private final List<Finish> finishes = new ArrayList<>();
    private final List<Connection> toAbort = new ArrayList<>();
    private final List<Runnable> cleanups = new ArrayList<>();

    static SocketRestore of(FdRestoreContext ctx) {
        return RUNS.computeIfAbsent(ctx.pid(), p -> new SocketRestore());
    }

    void hold(SocketFd s, Finish finish) {
        held.add(s);
        finishes.add(finish);
    }

    /** Work for once every fd exists, and what releases its resources after it ran or the restore failed. */
    void later(Finish finish, Runnable cleanup) {
        finishes.add(finish);
        cleanups.add(cleanup);
    }

    void abortLater(Connection c) {
        toAbort.add(c);
    }

    /** Puts an engine-held socket into the task; returns its fd there (close-on-exec cleared). */
    static int inject(FdRestoreContext ctx, SocketFd s) throws SyscallException {
        if (FdPassing.needed(ctx.pid())) { // a container's task: Cryo has no pid in its namespace
            int fd = FdPassing.give(ctx.pid(), ctx.syscall(), s.fd());
            ctx.syscall().call("fcntl(F_SETFD)", Syscall.FCNTL, fd, F_SETFD, 0);
            return fd;
        }
        long me = ProcessHandle.current().pid();
        int pidfd = (int) ctx.syscall().call("pidfd_open(cryo)", Syscall.PIDFD_OPEN, me, 0);
        try {
            int fd = (int) ctx.syscall().call("pidfd_getfd", Syscall.PIDFD_GETFD, pidfd, s.fd(), 0);
            ctx.syscall().call("fcntl(F_SETFD)", Syscall.FCNTL, fd, F_SETFD, 0);
            return fd;
        } finally {
            ctx.syscall().raw(Syscall.CLOSE, pidfd);
        }
    }

    /** Called once all fds are restored, before the task runs. */
    public static void finish(FdRestoreContext ctx) throws CryoException {
        finish(ctx, true);
    }

    /**
     * Called once all fds of every task are restored, before any runs; {@code unlockNetwork}: this task's finish
     * lifts the dump's network lock (the last task's of a tree, the root).
     */
    public static void finish(FdRestoreContext ctx, boolean unlockNetwork) throws CryoException {
        SocketRestore r = RUNS.remove(ctx.pid());
        try {
            if (r != null) {
                for (Finish f : r.finishes) {
                    f.run();
                }
            }
        } catch (SyscallException e) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": finishing its TCP connections failed: "
                    + e.getMessage(), e);
        } finally {
            if (r != null) {
                r.held.forEach(SocketFd::close);
                r.cleanups.forEach(Runnable::run);
            }
        }
        // only the root's finish lifts the lock: the images directory listed once, not once a task
        if (unlockNetwork && !"skip".equals(ctx.options().networkLock()) && hasStreams(ctx.options().imagesDir())) {
            // the task's namespace, a container's own; the table goes once the tree runs (RestoreRun)
            Path ns = NetworkLock.namespaceOf(ctx.pid());
            if (!NetworkLock.open(ctx.pid(), ns, ctx.log())) {
                // no lock of Cryo's: images CRIU dumped hold their connections with its iptables rules
                dev.cryo.engine.net.IptablesLock.unlock(connections(ctx.options().imagesDir(), ctx.log()), ns,
                        ctx.log());
            }
        }
        if (r != null) {
            for (Connection c : r.toAbort) {
                try {
                    SockDestroy.abort(c);
                    ctx.log().info("Connection %s closed (--tcp-close)", c);
                } catch (SyscallException e) {
                    throw new CryoException("cannot restore pid " + ctx.pid() + ": closing connection " + c
                            + " for --tcp-close failed: " + e.getMessage(), e);
                }
            }
        }
    }

    /** After a failed restore: held sockets close silently (repair is on), and the lock goes. Never throws. */
    public static void abort(int pid, Path imagesDir, Log log) {
        SocketRestore r = RUNS.remove(pid);
        if (r != null) {
            r.held.forEach(SocketFd::close);
            r.cleanups.forEach(Runnable::run);
        }
        if (hasStreams(imagesDir)) {
            NetworkLock.unlock(pid, NetworkLock.namespaceOf(pid), log);
        }
    }

    /** The TCP connections (established or half-closed) of files.img, as the dump's lock names them. */
    static List<Connection> connections(Path dir, Log log) {
        List<Connection> out = new ArrayList<>();
        try {
            for (dev.cryo.image.proto.file_entry f : dev.cryo.image.ImageDir.open(dir).files()) {
                if (f.hasIsk() && f.getIsk().getProto() == SocketFd.IPPROTO_TCP
                        && dev.cryo.engine.net.TcpRepair.connected(f.getIsk().getState())) {
                    var e = f.getIsk();
                    out.add(new Connection(dev.cryo.engine.net.SockAddr.ofWords(e.getFamily(), e.getSrcAddrList(),
                            e.getSrcPort()), dev.cryo.engine.net.SockAddr.ofWords(e.getFamily(), e.getDstAddrList(),
                            e.getDstPort())));
                }
            }
        } catch (IOException | RuntimeException e) {
            log.warn("cannot list the connections of files.img for the network unlock: %s", e.getMessage());
        }
        return out;
    }

    /** Whether the images hold TCP streams, that is, whether the dump locked the network. */
    static boolean hasStreams(Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "tcp-stream-*.img")) {
            return s.iterator().hasNext();
        } catch (IOException e) {
            return false;
        }
    }
}
