package dev.cryo.engine.net;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * IP-level socket options come back (ip_opts_entry): on UDP sockets IP_PKTINFO, IP_TOS, IP_TTL and IP_FREEBIND, and
 * their IPv6 counterparts; on a raw ICMP socket its ICMP filter; on a TCP listener TCP_NODELAY. The program reads
 * them all before and after; after the restore a datagram to itself still carries its IP_PKTINFO, as a DNS server
 * relies on, and a connection the listener accepts has Nagle off, as it inherits it. Loopback only, in
 * a network namespace of the test's own.
 */
@RootWithPtrace
class IpOptionsRoundTripTest {
    @TempDir
    Path tmp;

    @Test
    void ipOptionsOfUdpAndRawSocketsComeBack() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Path exe = CProgram.compile(tmp, "ipopts", PROGRAM);
                try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
                    t.awaitLines(1);
                    String before = t.lines().get(0);
                    Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
                    await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                    assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
                    Files.createFile(tmp.resolve("go"));
                    t.awaitLines(4);
                    List<String> out = t.lines();
                    assertEquals(before, out.get(1), "the options after the restore");
                    assertEquals("accepted nodelay=1", out.get(2));
                    assertEquals("pktinfo 127.0.0.1", out.get(3));
                }
            });
        }
    }

    /**
     * A UDP socket bound to an address of no interface while IP_FREEBIND was on, the option off since (CRIU's zdtm
     * sk-freebind-false): the restore binds with it on for the bind only. No datagram is sent.
     */
    @Test
    void aSocketBoundWithFreebindTurnedOffSinceIsBoundAgain() throws Exception {
        Path exe = CProgram.compile(tmp, "freebind", FREEBIND);
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
                    Checkpoint.dumpRestoreGo(t);
                    t.awaitLines(2);
                    assertEquals(List.of("bound 192.0.2.7:5353 freebind=0", "bound 192.0.2.7:5353 freebind=0"),
                            t.lines());
                }
            });
        }
    }

    static final String FREEBIND = """
            #include <arpa/inet.h>
            #include <netinet/in.h>
            #include <stdio.h>
            #include <sys/socket.h>
            #include <unistd.h>
            static void show(int s) {
                struct sockaddr_in a; socklen_t len = sizeof a; int v = -1; socklen_t vl = sizeof v;
                getsockname(s, (struct sockaddr *) &a, &len);
                getsockopt(s, IPPROTO_IP, IP_FREEBIND, &v, &vl);
                printf("bound %s:%d freebind=%d\\n", inet_ntoa(a.sin_addr), ntohs(a.sin_port), v); fflush(stdout);
            }
            int main(void) {
                int one = 1, zero = 0, s = socket(AF_INET, SOCK_DGRAM, 0);
                struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5353)};
                inet_pton(AF_INET, "192.0.2.7", &a.sin_addr); /* TEST-NET-1: on no interface */
                if (setsockopt(s, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) < 0
                        || bind(s, (struct sockaddr *) &a, sizeof a) < 0
                        || setsockopt(s, IPPROTO_IP, IP_FREEBIND, &zero, sizeof zero) < 0) return 1;
                show(s);
                while (access("go", F_OK) != 0) usleep(20000);
                show(s);
                return 0;
            }
            """;

    /** Prints the options of its sockets; on "go" prints them again, then sends itself a datagram. */
    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <arpa/inet.h>
            #include <netinet/in.h>
            #include <netinet/tcp.h>
            #include <linux/icmp.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <unistd.h>
            static int u4, u6, raw, lst;
            static int get(int s, int level, int opt) {
                int v = -1; socklen_t len = sizeof v;
                getsockopt(s, level, opt, &v, &len);
                return v;
            }
            static void show(void) {
                printf("u4 pktinfo=%d tos=%d ttl=%d freebind=%d u6 pktinfo=%d tclass=%d hops=%d raw filter=%#x lst nodelay=%d\\n",
                       get(u4, IPPROTO_IP, IP_PKTINFO), get(u4, IPPROTO_IP, IP_TOS), get(u4, IPPROTO_IP, IP_TTL),
                       get(u4, IPPROTO_IP, IP_FREEBIND), get(u6, IPPROTO_IPV6, IPV6_RECVPKTINFO),
                       get(u6, IPPROTO_IPV6, IPV6_TCLASS), get(u6, IPPROTO_IPV6, IPV6_UNICAST_HOPS),
                       get(raw, SOL_RAW, ICMP_FILTER), get(lst, IPPROTO_TCP, TCP_NODELAY));
                fflush(stdout);
            }
            int main(void) {
                int one = 1, tos = 0x10, ttl = 7, tclass = 0x20, hops = 9, filter = ~(1 << ICMP_ECHOREPLY);
                u4 = socket(AF_INET, SOCK_DGRAM, 0);
                u6 = socket(AF_INET6, SOCK_DGRAM, 0);
                raw = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
                lst = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in la = {.sin_family = AF_INET};
                la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                socklen_t lalen = sizeof la;
                if (lst < 0 || setsockopt(lst, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)
                    || bind(lst, (struct sockaddr *)&la, sizeof la) || listen(lst, 4)
                    || getsockname(lst, (struct sockaddr *)&la, &lalen)) {
                    printf("FAIL listener\\n"); return 1;
                }
                struct sockaddr_in a = {.sin_family = AF_INET};
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                socklen_t alen = sizeof a;
                if (u4 < 0 || u6 < 0 || raw < 0
                    || setsockopt(u4, IPPROTO_IP, IP_FREEBIND, &one, sizeof one)
                    || setsockopt(u4, IPPROTO_IP, IP_PKTINFO, &one, sizeof one)
                    || setsockopt(u4, IPPROTO_IP, IP_TOS, &tos, sizeof tos)
                    || setsockopt(u4, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl)
                    || setsockopt(u6, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one)
                    || setsockopt(u6, IPPROTO_IPV6, IPV6_TCLASS, &tclass, sizeof tclass)
                    || setsockopt(u6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops)
                    || setsockopt(raw, SOL_RAW, ICMP_FILTER, &filter, sizeof filter)
                    || bind(u4, (struct sockaddr *)&a, sizeof a) || getsockname(u4, (struct sockaddr *)&a, &alen)) {
                    printf("FAIL setup\\n"); return 1;
                }
                show();
                while (access("go", F_OK) != 0)
                    usleep(20000);
                show();
                int tc = socket(AF_INET, SOCK_STREAM, 0);
                if (connect(tc, (struct sockaddr *)&la, sizeof la)) { printf("FAIL connect\\n"); return 1; }
                int acc = accept(lst, NULL, NULL);
                printf("accepted nodelay=%d\\n", get(acc, IPPROTO_TCP, TCP_NODELAY)); fflush(stdout);
                int c = socket(AF_INET, SOCK_DGRAM, 0);
                sendto(c, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
                char data[8], control[256];
                struct iovec iov = {data, sizeof data};
                struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
                if (recvmsg(u4, &m, 0) != 1) { printf("FAIL recvmsg\\n"); return 1; }
                for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
                    if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO) {
                        struct in_pktinfo *p = (struct in_pktinfo *)CMSG_DATA(h);
                        printf("pktinfo %s\\n", inet_ntoa(p->ipi_addr)); fflush(stdout);
                        return 0;
                    }
                printf("FAIL no IP_PKTINFO\\n"); fflush(stdout);
                return 1;
            }
            """;
}
