package dev.cryo.engine.net;

import dev.cryo.engine.log.Log;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * CRIU's network lock as Cryo takes it ({@code --network-lock iptables}) and lifts it (its own, or CRIU's dump's):
 * the rules hold the connection both ways and no other, in the namespace asked; which of {@code iptables -S}'s rules
 * are CRIU's lock of a given connection.
 */
class IptablesLockTest {
    private static final Set<String> ENDS = Set.of(
            IptablesLock.pair(IptablesLock.end("127.0.0.1", "40000"), IptablesLock.end("127.0.0.1", "8080")),
            IptablesLock.pair(IptablesLock.end("0:0:0:0:0:0:0:1", "5000"), IptablesLock.end("::1", "6379")));

    @Test
    void criusRulesOfTheConnectionsAreFoundBothWays() {
        String in = "-A INPUT -s 127.0.0.1/32 -d 127.0.0.1/32 -p tcp -m mark ! --mark 0xc114 -m tcp --sport 8080 "
                + "--dport 40000 -j DROP";
        assertEquals(List.of(in.substring("-A INPUT ".length()).split(" ")), IptablesLock.criuRule(in, "INPUT", ENDS));
        String out = "-A OUTPUT -s 127.0.0.1/32 -d 127.0.0.1/32 -p tcp -m mark ! --mark 0xc114 -m tcp --sport 40000 "
                + "--dport 8080 -j DROP";
        assertEquals(List.of(out.substring("-A OUTPUT ".length()).split(" ")), IptablesLock.criuRule(out, "OUTPUT", ENDS));
        String v6 = "-A INPUT -s ::1/128 -d ::1/128 -p tcp -m mark ! --mark 0xc114 -m tcp --sport 6379 --dport 5000 -j DROP";
        assertEquals("::1/128", IptablesLock.criuRule(v6, "INPUT", ENDS).get(1));
    }

    @Test
    void anyOtherRuleIsLeftAlone() {
        // another connection, another chain, no CRIU mark, an accept, a policy line
        assertNull(IptablesLock.criuRule("-A INPUT -s 127.0.0.1/32 -d 127.0.0.1/32 -p tcp -m mark ! --mark 0xc114 "
                + "-m tcp --sport 8081 --dport 40000 -j DROP", "INPUT", ENDS));
        assertNull(IptablesLock.criuRule("-A INPUT -s 127.0.0.1/32 -d 127.0.0.1/32 -p tcp -m mark ! --mark 0xc114 "
                + "-m tcp --sport 8080 --dport 40000 -j DROP", "OUTPUT", ENDS));
        assertNull(IptablesLock.criuRule("-A INPUT -s 127.0.0.1/32 -d 127.0.0.1/32 -p tcp -m tcp --sport 8080 "
                + "--dport 40000 -j DROP", "INPUT", ENDS));
        assertNull(IptablesLock.criuRule("-A INPUT -s 127.0.0.1/32 -d 127.0.0.1/32 -p tcp -m mark ! --mark 0xc114 "
                + "-m tcp --sport 8080 --dport 40000 -j ACCEPT", "INPUT", ENDS));
        assertNull(IptablesLock.criuRule("-P INPUT ACCEPT", "INPUT", ENDS));
        // a rule between one end and itself is no connection of the images, and no reason to fail
        assertNull(IptablesLock.criuRule("-A INPUT -s 127.0.0.1/32 -d 127.0.0.1/32 -p tcp -m mark ! --mark 0xc114 "
                + "-m tcp --sport 8080 --dport 8080 -j DROP", "INPUT", ENDS));
    }

    @Test
    void theLockHoldsTheConnectionBothWaysInItsNamespaceAndItsUnlockLetsTheRetransmitsThrough() throws Exception {
        boolean tool = NetworkLock.tool("iptables") != null;
        if (!tool) {
            System.out.println("SKIPPED: iptables is not installed");
        }
        assumeTrue(tool, "iptables is not installed");
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                try (LoopbackPair pair = new LoopbackPair()) {
                    Connection c = pair.connection();
                    IptablesLock.lock(1, List.of(c), net.path(), Log.discard());
                    String rules = rules(null);
                    assertEquals(2, rules.lines().filter(l -> l.contains("0xc114")).count(), rules);
                    Path outside = Path.of("/proc/" + ProcessHandle.current().pid() + "/ns/net");
                    assertFalse(rules(outside).contains("--sport " + pair.locked.getLocalPort()),
                            "nothing in the namespace of the JVM's main thread");
                    pair.assertHeldBothWaysAndNothingElse();

                    IptablesLock.unlock(List.of(c), net.path(), Log.discard());
                    assertFalse(rules(null).contains("0xc114"), "unlocked: " + rules(null));
                    pair.assertReleased();
                }
            });
        }
    }

    /** iptables -S of the filter table, in {@code ns} (null: the calling thread's). */
    private static String rules(Path ns) throws Exception {
        return NetNamespace.call(ns, () -> {
            Process p = new ProcessBuilder("iptables", "-w", "-t", "filter", "-S").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(10, TimeUnit.SECONDS));
            return out;
        });
    }

}
