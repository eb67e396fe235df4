package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.net.Connection;
import dev.cryo.engine.net.NetNamespace;
import dev.cryo.engine.net.NetworkLock;
import dev.cryo.engine.net.SocketFd;
import dev.cryo.engine.net.TcpRepair;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The sockets of one dump that outlive their fd's dump: connections in repair mode and the network lock. Released
 * once the dump ends: on success the sockets close silently with the process and the lock stays for the restore;
 * with -R or on failure repair is turned off and the lock removed.
 */
public final class SocketDump {
    private static final Map<FdDumpContext, SocketDump> RUNS = Collections.synchronizedMap(new IdentityHashMap<>());

    private final FdDumpContext ctx;
    private final List<SocketFd> repaired = new ArrayList<>();
    private boolean locked;

    private SocketDump(FdDumpContext ctx) {
        this.ctx = ctx;
    }

    static SocketDump of(FdDumpContext ctx) {
        return RUNS.computeIfAbsent(ctx, SocketDump::new);
    }

    /** Locks every established TCP connection of the process at once, before the first goes into repair mode. */
    void lock() throws CryoException {
        if (locked) {
            return;
        }
        List<Connection> conns = new ArrayList<>();
        try {
            for (FdInfo fd : ctx.proc().fds(ctx.pid())) {
                String proto = fd.extra().getOrDefault("sockproto", "");
                if (!proto.startsWith("TCP")) {
                    continue;
                }
                try (SocketFd s = SocketFd.take(ctx.pid(), fd.fd())) {
                    if (TcpRepair.state(s) == TcpRepair.TCP_ESTABLISHED) {
                        Connection c = new Connection(s.name(), s.peer());
                        if (!conns.contains(c)) {
                            conns.add(c);
                        }
                    }
                }
            }
        } catch (IOException | SyscallException e) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": listing its connections for the network lock "
                    + "failed: " + e.getMessage(), e);
        }
        NetworkLock.lock(ctx.pid(), NetNamespace.of(ctx.pid()), conns, ctx.log());
        locked = true;
    }

    /** Turns repair on for a taken socket and keeps it until the dump ends. */
    void repair(SocketFd s) throws SyscallException {
        TcpRepair.repair(s, true);
        repaired.add(s);
    }

    /** Ends the dump's hold on sockets; {@code dumped} false after a failure. Never throws. */
    public static void release(FdDumpContext ctx, boolean dumped) {
        SocketDump d = RUNS.remove(ctx);
        if (d == null) {
            return;
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
        if (d.locked && !keepClosed) {
            NetworkLock.unlock(ctx.pid(), NetNamespace.of(ctx.pid()), ctx.log());
        }
    }
}
