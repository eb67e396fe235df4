package dev.cryo.engine.net;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Which of {@code iptables -S}'s rules are CRIU's lock of a given connection, and what deletes them. */
class IptablesLockTest {
    private static final Set<Set<String>> ENDS = Set.of(
            Set.of(IptablesLock.end("127.0.0.1", "40000"), IptablesLock.end("127.0.0.1", "8080")),
            Set.of(IptablesLock.end("0:0:0:0:0:0:0:1", "5000"), IptablesLock.end("::1", "6379")));

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
    }
}
