package dev.cryo.engine.net;

import dev.cryo.engine.log.Log;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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

    /** Deletes CRIU's rules for {@code conns} in namespace {@code ns} (null: Cryo's); each failure is logged. */
    public static void unlock(List<Connection> conns, Path ns, Log log) {
        if (conns.isEmpty()) {
            return;
        }
        Set<Set<String>> ends = new HashSet<>();
        for (Connection c : conns) {
            ends.add(Set.of(end(c.local()), end(c.remote())));
        }
        for (String tool : List.of("iptables", "ip6tables")) {
            Path bin = binary(tool);
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
     * rules for a connection between {@code ends}, else null.
     */
    static List<String> criuRule(String rule, String chain, Set<Set<String>> ends) {
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
        return ends.contains(Set.of(host(s) + " " + sport, host(d) + " " + dport)) ? spec : null;
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
        try {
            return java.net.InetAddress.getByAddress(a.addr()).getHostAddress().replaceAll("%.*$", "") + " " + a.port();
        } catch (java.net.UnknownHostException e) {
            return "? " + a.port();
        }
    }

    private static Path binary(String tool) {
        for (String dir : List.of("/usr/sbin/", "/sbin/", "/usr/bin/")) {
            Path p = Path.of(dir + tool);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
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
