package dev.cryo.engine.net;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What LoopbackNamespace reads of /proc/PID/net: devices, addresses beyond lo's own (no root needed). */
class LoopbackNamespaceTest {
    @Test
    void devicesAreTheNamesBeforeEachColonAfterTheTwoHeaderLines() {
        List<String> dev = List.of(
                "Inter-|   Receive                                                |  Transmit",
                " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets",
                "    lo:       0       0    0    0    0     0          0         0        0       0",
                "    v1:       0       0    0    0    0     0          0         0        0       0");
        assertEquals(List.of("lo", "v1"), LoopbackNamespace.devices(dev));
    }

    @Test
    void onlyLocalHostAddressesOtherThanLosOwnAreExtra() {
        List<String> trie = List.of(
                "Main:",
                "  +-- 0.0.0.0/1 2 0 2",
                "     |-- 10.9.9.9",
                "        /32 host LOCAL",
                "     +-- 127.0.0.0/8 2 0 2",
                "        +-- 127.0.0.0/31 1 0 0",
                "           |-- 127.0.0.0",
                "              /8 host LOCAL",
                "           |-- 127.0.0.1",
                "              /32 host LOCAL",
                "        |-- 127.255.255.255",
                "           /32 link BROADCAST",
                "Local:",
                "     |-- 10.9.9.9",
                "        /32 host LOCAL");
        assertEquals(List.of("10.9.9.9"), LoopbackNamespace.extraIpv4(trie));
        assertEquals(List.of(), LoopbackNamespace.extraIpv4(trie.subList(4, 12)), "lo up, nothing added");
    }

    @Test
    void ipv6AddressesOtherThanLoopbackAreExtra() {
        List<String> inet6 = List.of(
                "00000000000000000000000000000001 01 80 10 80       lo",
                "fd000000000000000000000000000001 01 80 00 80       lo");
        assertEquals(List.of("fd000000000000000000000000000001 (lo)"), LoopbackNamespace.extraIpv6(inet6));
        assertEquals(List.of(), LoopbackNamespace.extraIpv6(inet6.subList(0, 1)));
    }
}
