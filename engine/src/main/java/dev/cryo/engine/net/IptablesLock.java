package dev.cryo.engine.net;

import dev.cryo.engine.log.Log;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * CRIU's network lock, which its dump leaves for its restore to lift: with {@code --network-lock iptables} (CRIU's
 * default) a DROP rule in INPUT and one in OUTPUT of the filter table for each locked connection, matching its
 * addresses and ports and the packets without CRIU's mark ({@code -m mark ! --mark 0xc114}). A restore of CRIU's
 * images by Cryo deletes the rules of the images' connections, as CRIU's restore does: left there, the restored
 * connections would never see a packet.
 */
public final class IptablesLock {
    private static final String CRIU_MARK = "0xc114";

    private IptablesLock() {
    }

    /**
     * {@code --network-lock iptables}: CRIU's rules for {@code conns} in namespace {@code ns}, so that CRIU's restore
     * lifts them as it lifts its own (and Cryo's, {@link #unlock}). A rule that cannot be added undoes those added.
     */
    public static void lock(int pid, List<Connection> conns, Path ns, Log log) throws dev.cryo.engine.CryoException {
        long t0 = System.nanoTime();
        List<String[]> added = new ArrayList<>();
        for (Connection c : conns) {
            Path bin = NetworkLock.tool(v6(c) ? "ip6tables" : "iptables");
            if (bin == null) {
                throw new dev.cryo.engine.CryoException("cannot lock the network of pid " + pid + " with iptables: "
                        + (v6(c) ? "ip6tables" : "iptables") + " is not installed (--network-lock nftables needs "
                        + "no program)");
            }
            // as CRIU adds them: the packets coming in to the local end, and those going out of it
            List<String[]> rules = List.of(rule(bin, "INPUT", c.remote(), c.local()),
                    rule(bin, "OUTPUT", c.local(), c.remote()));
            for (String[] rule : rules) {
                String[] argv = rule.clone();
                argv[4] = "-I";
                if (run(ns, log, argv) == null) {
                    for (String[] r : added) {
                        run(ns, log, r);
                    }
                    throw new dev.cryo.engine.CryoException("cannot lock the network of pid " + pid + ": "
                            + String.join(" ", argv) + " failed (see the log)");
                }
                added.add(rule);
            }
        }
        log.info("Network locked for %d connection(s) with %d iptables rule(s) in %d us", conns.size(), added.size(),
                (System.nanoTime() - t0) / 1000);
    }

    /** The delete form of CRIU's rule for packets from {@code from} to {@code to} in {@code chain}. */
    private static String[] rule(Path bin, String chain, SockAddr from, SockAddr to) {
        return new String[]{bin.toString(), "-w", "-t", "filter", "-D", chain, "--protocol", "tcp", "-m", "mark", "!",
                "--mark", "0xC114", "--source", host(from), "--sport", Integer.toString(from.port()), "--destination",
                host(to), "--dport", Integer.toString(to.port()), "-j", "DROP"};
    }

    /** Whether the connection's packets are IPv6 (not an IPv6 socket's v4-mapped peer, whose packets are IPv4). */
    private static boolean v6(Connection c) {
        return NetworkLock.inet(c.local()) instanceof java.net.Inet6Address;
    }

    private static String host(SockAddr a) {
        return NetworkLock.host(NetworkLock.inet(a));
    }

    /** Deletes CRIU's rules for {@code conns} in namespace {@code ns} (null: Cryo's); each failure is logged. */
    public static void unlock(List<Connection> conns, Path ns, Log log) {
        if (conns.isEmpty()) {
            return;
        }
        Set<String> ends = new HashSet<>();
        for (Connection c : conns) {
            ends.add(pair(end(c.local()), end(c.remote())));
        }
        for (String tool : List.of("iptables", "ip6tables")) {
            Path bin = NetworkLock.tool(tool);
            if (bin == null) {
                continue;
            }
            int deleted = 0;
            for (String chain : List.of("INPUT", "OUTPUT")) {
                List<String> rules = run(ns, log, bin.toString(), "-w", "-t", "filter", "-S", chain);
                for (String rule : rules == null ? List.<String>of() : rules) {
                    List<String> spec = criuRule(rule, chain, ends);
                    if (spec != null) {
                        List<String> argv = new ArrayList<>(List.of(bin.toString(), "-w", "-t", "filter", "-D", chain));
                        argv.addAll(spec);
                        if (run(ns, log, argv.toArray(String[]::new)) != null) {
                            deleted++;
                        }
                    }
                }
            }
            if (deleted > 0) {
                log.info("Network unlocked: %d rule(s) of CRIU's lock deleted with %s", deleted, tool);
            }
        }
    }

    /**
     * The words after {@code -A CHAIN} of {@code rule} ({@code iptables -S} output) when it is one of CRIU's lock
     * rules for a connection whose {@link #pair} is in {@code ends}, else null.
     */
    static List<String> criuRule(String rule, String chain, Set<String> ends) {
        List<String> w = Arrays.asList(rule.trim().split("\\s+"));
        if (w.size() < 3 || !w.get(0).equals("-A") || !w.get(1).equals(chain)) {
            return null;
        }
        List<String> spec = w.subList(2, w.size());
        String s = value(spec, "-s"), d = value(spec, "-d"), sport = value(spec, "--sport"), dport = value(spec, "--dport");
        boolean criu = CRIU_MARK.equalsIgnoreCase(value(spec, "--mark")) && spec.contains("!")
                && "DROP".equals(value(spec, "-j")) && "tcp".equals(value(spec, "-p"));
        if (!criu || s == null || d == null || sport == null || dport == null) {
            return null;
        }
        return ends.contains(pair(end(host(s), sport), end(host(d), dport))) ? spec : null;
    }

    /** A connection's two ends in either order (a rule names them one way or the other). */
    static String pair(String end, String other) {
        return end.compareTo(other) <= 0 ? end + " | " + other : other + " | " + end;
    }

    private static String value(List<String> words, String option) {
        int i = words.indexOf(option);
        return i >= 0 && i + 1 < words.size() ? words.get(i + 1) : null;
    }

    /** An address as iptables prints it, without its single-host prefix length. */
    private static String host(String a) {
        return a.replaceAll("/(32|128)$", "");
    }

    private static String end(SockAddr a) {
        return end(host(a), Integer.toString(a.port()));
    }

    /** One end of a connection, its address in one spelling ({@code ::1} and {@code 0:0:0:0:0:0:0:1} alike). */
    static String end(String address, String port) {
        try {
            // a numeric address: parsed, never looked up
            return java.net.InetAddress.getByName(address).getHostAddress().replaceAll("%.*$", "") + " " + port;
        } catch (java.net.UnknownHostException e) {
            return address + " " + port;
        }
    }

    /** Runs {@code argv} in namespace {@code ns}; its output lines, or null when it failed (logged). */
    private static List<String> run(Path ns, Log log, String... argv) {
        try {
            return NetNamespace.call(ns, () -> {
                Process p = new ProcessBuilder(argv).redirectErrorStream(true).redirectInput(new java.io.File("/dev/null"))
                        .start();
                byte[] out = p.getInputStream().readAllBytes();
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IOException("no answer within 10 s");
                }
                String text = new String(out, StandardCharsets.UTF_8);
                if (p.exitValue() != 0) {
                    throw new IOException("exit " + p.exitValue() + ": " + text.strip());
                }
                return text.lines().toList();
            });
        } catch (Exception e) {
            log.warn("%s: %s", String.join(" ", argv), e.getMessage());
            return null;
        }
    }
}
