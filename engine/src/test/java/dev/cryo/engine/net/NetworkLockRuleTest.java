package dev.cryo.engine.net;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

/** The network lock's rule matches the packets a connection really sends. */
class NetworkLockRuleTest {
    private static SockAddr addr(int family, String host, int port) throws Exception {
        byte[] raw = InetAddress.getByName(host).getAddress();
        if (family == SockAddr.AF_INET6 && raw.length == 4) { // Java folds ::ffff:a.b.c.d to IPv4: unfold it
            byte[] mapped = new byte[16];
            mapped[10] = (byte) 0xff;
            mapped[11] = (byte) 0xff;
            System.arraycopy(raw, 0, mapped, 12, 4);
            raw = mapped;
        }
        return new SockAddr(family, raw, port);
    }

    @Test
    void ipv4ConnectionIsMatchedAsIp() throws Exception {
        assertEquals("ip saddr 127.0.0.1 ip daddr 127.0.0.1 tcp sport 40000 tcp dport 8080 meta mark != 0x0000c114",
                NetworkLock.match(addr(SockAddr.AF_INET, "127.0.0.1", 40000), addr(SockAddr.AF_INET, "127.0.0.1", 8080)));
    }

    @Test
    void ipv6ConnectionIsMatchedAsIp6() throws Exception {
        assertEquals("ip6 saddr 0:0:0:0:0:0:0:1 ip6 daddr 0:0:0:0:0:0:0:1 tcp sport 40000 tcp dport 8080 meta mark != 0x0000c114",
                NetworkLock.match(addr(SockAddr.AF_INET6, "::1", 40000), addr(SockAddr.AF_INET6, "::1", 8080)));
    }

    @Test
    void dualStackSocketTalkingToAV4MappedAddressIsMatchedAsIp() throws Exception {
        // a JVM's server socket is AF_INET6; its connections from 127.0.0.1 carry IPv4 packets
        assertEquals("ip saddr 127.0.0.1 ip daddr 127.0.0.1 tcp sport 8080 tcp dport 40000 meta mark != 0x0000c114",
                NetworkLock.match(addr(SockAddr.AF_INET6, "127.0.0.1", 8080), addr(SockAddr.AF_INET6, "127.0.0.1", 40000)));
    }
}
