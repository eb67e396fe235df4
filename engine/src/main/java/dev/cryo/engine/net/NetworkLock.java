package dev.cryo.engine.net;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Holds the packets of checkpointed connections with an nftables table of Cryo's own, {@code inet cryo-lock-PID},
 * from the dump until the restore is done: the peer's retransmits meet no socket and so no RST. The table is
 * created and deleted in the namespace of the connections, each in one nf_tables transaction over netlink
 * ({@link NfTables}), with the rules nft would make of {@link #match}'s words ({@code nft list table} shows them).
 */
public final class NetworkLock {
    public static final String TABLE_PREFIX = "cryo-lock-";

    private NetworkLock() {
    }

    public static String table(int pid) {
        return TABLE_PREFIX + pid;
    }

    /**
     * The pid a lock's table is named by: the tree root's pid as its own pid namespace numbers it, which the dump
     * and the restore agree on (a container's init is 1 in both, whatever its host pid); a plain tree's, its pid.
     */
    public static int lockPid(int hostPid) {
        try {
            for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/" + hostPid + "/status"))) {
                if (line.startsWith("NSpid:")) {
                    String[] f = line.substring(6).trim().split("\\s+");
                    return Integer.parseInt(f[f.length - 1]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone: its host pid, as a plain tree's
        }
        return hostPid;
    }

    /** The network namespace of task {@code hostPid} when it still exists, else null (Cryo's). */
    public static Path namespaceOf(int hostPid) {
        Path ns = NetNamespace.of(hostPid);
        return java.nio.file.Files.exists(ns) ? ns : null;
    }

    /** Creates the table dropping both directions of every connection; {@code ns} null means Cryo's own namespace. */
    public static void lock(int pid, Path ns, List<Connection> conns, Log log) throws CryoException {
        String t = table(lockPid(pid));
        long t0 = System.nanoTime();
        // a new table, made only if there is none (a transaction that only adds takes no RCU grace period); one left
        // by an earlier dump that was never restored is replaced, which costs that grace period
        String err = commit(ns, lockBatch(new NfTables.Batch().newTable(t), t, conns));
        if (err != null && err.contains("EEXIST")) {
            err = commit(ns, lockBatch(new NfTables.Batch().ensureTable(t).deleteTable(t).ensureTable(t), t, conns));
        }
        if (err != null) {
            throw new CryoException("cannot lock the network of pid " + pid + " (nftables table inet " + t + "): " + err);
        }
        log.info("Network locked for %d connection(s) with table inet %s in %d us", conns.size(), t,
                (System.nanoTime() - t0) / 1000);
    }

    /** Both base chains of table {@code t} with a drop rule for each direction of every connection. */
    private static NfTables.Batch lockBatch(NfTables.Batch b, String t, List<Connection> conns) {
        b.baseChain(t, "output", NfTables.NF_INET_LOCAL_OUT, PRIORITY);
        for (Connection c : conns) {
            b.dropRule(t, "output", new NfTables.Flow(c.local(), c.remote()));
        }
        b.baseChain(t, "input", NfTables.NF_INET_LOCAL_IN, PRIORITY);
        for (Connection c : conns) {
            b.dropRule(t, "input", new NfTables.Flow(c.remote(), c.local()));
        }
        return b;
    }

    /**
     * Lifts the lock at once, before the tasks run: an accept rule first in both chains (a transaction that only
     * adds). The table itself goes with {@link #unlock} once they run. Returns whether the table was there; a
     * failure is logged, and then the table is deleted here, as before.
     */
    public static boolean open(int pid, Path ns, Log log) {
        String t = table(lockPid(pid));
        long t0 = System.nanoTime();
        String err = commit(ns, new NfTables.Batch().acceptFirst(t, "output").acceptFirst(t, "input"));
        if (err == null) {
            log.info("Network unlocked (accept first in table inet %s) in %d us", t, (System.nanoTime() - t0) / 1000);
            OPENED.put(pid, ns == null ? OWN_NAMESPACE : ns);
            return true;
        }
        if (err.contains("ENOENT")) {
            return false; // no lock there
        }
        log.warn("cannot open the network lock with an accept rule (%s): deleting table inet %s now", err, t);
        unlock(pid, ns, log);
        return false;
    }

    /** Locks {@link #open} opened, by pid, with their namespace: their tables are deleted by {@link #closeOpened}. */
    private static final java.util.Map<Integer, Path> OPENED = new java.util.concurrent.ConcurrentHashMap<>();
    private static final Path OWN_NAMESPACE = Path.of("");

    /** Once the tree runs: the table of the lock {@link #open} opened for {@code pid} is deleted, if there is one. */
    public static void closeOpened(int pid, Log log) {
        Path ns = OPENED.remove(pid);
        if (ns != null) {
            unlock(pid, ns == OWN_NAMESPACE ? null : ns, log);
        }
    }

    /** Deletes the table if it is there; a failure is logged, never thrown (it runs on cleanup paths too). */
    public static void unlock(int pid, Path ns, Log log) {
        OPENED.remove(pid);
        String t = table(lockPid(pid));
        long t0 = System.nanoTime();
        String err = commit(ns, new NfTables.Batch().ensureTable(t).deleteTable(t));
        if (err != null) {
            log.error("cannot unlock the network: deleting nftables table inet %s failed: %s", t, err);
        } else {
            log.info("Network unlocked (table inet %s deleted) in %d us", t, (System.nanoTime() - t0) / 1000);
        }
    }

    /**
     * Whether the kernel of Cryo's network namespace takes a lock-shaped table (a chain on the input hook, one drop
     * rule), checked and not applied; null when it does, else why not. For {@code cryo check}.
     */
    public static String check() {
        SockAddr a = new SockAddr(SockAddr.AF_INET, new byte[]{127, 0, 0, 1}, 1);
        String t = TABLE_PREFIX + "check";
        NfTables.Batch b = new NfTables.Batch().ensureTable(t).baseChain(t, "input", NfTables.NF_INET_LOCAL_IN, PRIORITY)
                .dropRule(t, "input", new NfTables.Flow(a, a));
        try (SocketFd s = NfTables.open()) {
            NfTables.check(s, b);
            return null;
        } catch (dev.cryo.engine.sys.SyscallException e) {
            return e.getMessage();
        }
    }

    /** Before every other hook of the inet family (conntrack's is -200), as CRIU's lock. */
    static final int PRIORITY = -300;

    /** Commits one nf_tables transaction in {@code ns}; null on success, else what went wrong. */
    static String commit(Path ns, NfTables.Batch batch) {
        try {
            // the netlink socket belongs to the namespace it was made in; it is used from here
            try (SocketFd s = NetNamespace.call(ns, NfTables::open)) {
                NfTables.commit(s, batch);
            }
            return null;
        } catch (dev.cryo.engine.sys.SyscallException e) {
            return e.getMessage();
        } catch (Exception e) {
            return "cannot reach nf_tables: " + e.getMessage();
        }
    }

    static String match(SockAddr from, SockAddr to) {
        java.net.InetAddress src = inet(from), dst = inet(to);
        // an AF_INET6 socket talking to a v4-mapped address (::ffff:a.b.c.d, as a JVM's dual-stack sockets do)
        // sends IPv4 packets: Java gives it back as an Inet4Address, and the rule must match it as ip, not ip6
        String ip = src instanceof java.net.Inet6Address ? "ip6" : "ip";
        return ip + " saddr " + host(src) + " " + ip + " daddr " + host(dst) + " tcp sport " + from.port()
                + " tcp dport " + to.port() + " meta mark != 0x0000c114";
    }

    static java.net.InetAddress inet(SockAddr a) {
        try {
            return java.net.InetAddress.getByAddress(a.addr());
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    static String host(java.net.InetAddress a) {
        return a.getHostAddress().replaceAll("%.*$", "");
    }

    static String nftPath() {
        Path nft = tool("nft");
        return nft == null ? "nft" : nft.toString();
    }

    /** The network tool {@code name} (nft, iptables, ip6tables) where distributions install it, or null. */
    static Path tool(String name) {
        for (String dir : List.of("/usr/sbin/", "/sbin/", "/usr/bin/")) {
            if (java.nio.file.Files.isExecutable(Path.of(dir + name))) {
                return Path.of(dir + name);
            }
        }
        return null;
    }
}
