package dev.cryo.engine.net;

import dev.cryo.engine.CryoException;
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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ICMP ping sockets (SOCK_DGRAM with IPPROTO_ICMP or IPPROTO_ICMPV6), which ping and monitoring agents use without
 * CAP_NET_RAW, come back bound to the echo identifier they had: the kernel picked it at the first send, and the
 * replies to the program's requests carry it. A namespace whose net.ipv4.ping_group_range no longer lets Cryo make
 * one fails the restore with that named, and no task is left. Loopback only, in a network namespace of the test's own.
 */
@RootWithPtrace
class PingSocketRoundTripTest {
    static final Path RANGE = Path.of("/proc/sys/net/ipv4/ping_group_range");

    @TempDir
    Path tmp;

    @Test
    void pingSocketsKeepTheirIdentifiersAndGetReplies() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Files.writeString(RANGE, "0 2147483647"); // this namespace's, opened as Docker opens a container's
                Path exe = CProgram.compile(tmp, "ping", PROGRAM);
                try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
                    t.awaitLines(1);
                    String before = t.lines().get(0);
                    assertTrue(before.startsWith("ids "), before);
                    Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
                    await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                    assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
                    Files.createFile(tmp.resolve("go"));
                    t.awaitLines(2);
                    List<String> out = t.lines();
                    assertEquals(before.replace("ids", "after"), out.get(1), "identifiers, and the replies' to them");
                }
            });
        }
    }

    @Test
    void aRangeThatShutCryoOutFailsTheRestoreByName() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Files.writeString(RANGE, "0 2147483647");
                Path exe = CProgram.compile(tmp, "ping", PROGRAM);
                try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
                    t.awaitLines(1);
                    Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
                    await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                    Files.writeString(RANGE, "1 0"); // the kernel's default: no group
                    CryoException e = assertThrows(CryoException.class, () -> Checkpoint.restore(tmp.resolve("img")));
                    assertTrue(e.getMessage().contains("pid " + t.pid()) && e.getMessage().contains("ICMP ping socket")
                            && e.getMessage().contains("net.ipv4.ping_group_range"), e.getMessage());
                    assertFalse(t.alive(), "nothing of the failed restore runs");
                }
            });
        }
    }

    /**
     * Three ping sockets: IPv4 bound at its first send, IPv4 bound by hand to identifier 0x4a4b and connected, IPv6
     * bound at its first send. Each has one echo answered; prints the identifiers, and on "go" sends another echo
     * on each and prints the identifiers the replies carry (an unbound socket would be given a new one).
     */
    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <arpa/inet.h>
            #include <netinet/icmp6.h>
            #include <netinet/in.h>
            #include <netinet/ip_icmp.h>
            #include <poll.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <unistd.h>
            static int fd[3], v6[3] = {0, 0, 1}, conn[3] = {0, 1, 0};
            static unsigned ident(int i) {
                struct sockaddr_in6 a; socklen_t len = sizeof a;
                memset(&a, 0, sizeof a);
                if (getsockname(fd[i], (struct sockaddr *)&a, &len)) return 0;
                return ntohs(a.sin6_port); /* sin_port and sin6_port share their place */
            }
            static int echo(int i, int seq) {
                unsigned char req[16] = {0}, buf[256];
                struct sockaddr_in to4 = {.sin_family = AF_INET};
                struct sockaddr_in6 to6 = {.sin6_family = AF_INET6};
                to4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                to6.sin6_addr = in6addr_loopback;
                req[0] = v6[i] ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
                req[7] = seq;
                ssize_t n = conn[i] ? send(fd[i], req, sizeof req, 0)
                        : v6[i] ? sendto(fd[i], req, sizeof req, 0, (struct sockaddr *)&to6, sizeof to6)
                        : sendto(fd[i], req, sizeof req, 0, (struct sockaddr *)&to4, sizeof to4);
                if (n != sizeof req) return -1;
                for (;;) {
                    struct pollfd p = {.fd = fd[i], .events = POLLIN};
                    if (poll(&p, 1, 3000) != 1) return -2;
                    n = recv(fd[i], buf, sizeof buf, 0);
                    if (n >= 8 && buf[7] == seq) return buf[4] << 8 | buf[5];
                }
            }
            int main(void) {
                fd[0] = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
                fd[1] = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
                fd[2] = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
                struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = htons(0x4a4b)};
                lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                if (fd[0] < 0 || fd[1] < 0 || fd[2] < 0 || bind(fd[1], (struct sockaddr *)&lo, sizeof lo)
                    || connect(fd[1], (struct sockaddr *)&lo, sizeof lo)) {
                    printf("FAIL setup\\n"); return 1;
                }
                for (int i = 0; i < 3; i++)
                    if (echo(i, 1) != (int)ident(i)) { printf("FAIL first echo %d\\n", i); return 1; }
                printf("ids %#x %#x %#x\\n", ident(0), ident(1), ident(2)); fflush(stdout);
                while (access("go", F_OK) != 0)
                    usleep(20000);
                int r0 = echo(0, 2), r1 = echo(1, 2), r2 = echo(2, 2);
                printf("after %#x %#x %#x\\n", r0, r1, r2); fflush(stdout);
                return 0;
            }
            """;
}
