package dev.cryo.engine.net;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** UDP sockets as CRIU treats them: datagrams waiting to be read are dropped (and logged), a corked one is refused. */
@RootWithPtrace
class UdpSocketTest {
    @TempDir
    Path tmp;

    /**
     * Binds 127.0.0.1 port argv[1]; with argv[2] "cork" also holds a corked datagram to it. After "go" appears,
     * echoes each datagram it reads back to its sender, printing it.
     */
    static final String ECHO = """
            #include <arpa/inet.h>
            #include <netinet/in.h>
            #include <netinet/udp.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                int s = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
                if (bind(s, (void *)&a, sizeof a)) { perror("bind"); return 1; }
                if (argc > 2) {
                    int c = socket(AF_INET, SOCK_DGRAM, 0);
                    setsockopt(c, IPPROTO_UDP, UDP_CORK, &one, sizeof one);
                    sendto(c, "held back", 9, 0, (void *)&a, sizeof a);
                }
                printf("ready\\n");
                while (access("go", F_OK) != 0) usleep(1000);
                for (;;) {
                    char b[256] = {0}; struct sockaddr_in from; socklen_t fl = sizeof from;
                    ssize_t n = recvfrom(s, b, sizeof b - 1, 0, (void *)&from, &fl);
                    if (n < 0) continue;
                    printf("got %s\\n", b);
                    sendto(s, b, n, 0, (void *)&from, fl);
                }
            }
            """;

    private DumpOptions options(int pid) {
        return new DumpOptions(pid, tmp.resolve("img"), false, false, true, false, false, false, null, null, null);
    }

    @Test
    void queuedDatagramsAreDroppedAndTheSocketWorksAfterRestore() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Path exe = CProgram.compile(tmp, "echo", ECHO);
                InetSocketAddress server = new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 47301);
                try (Target t = Target.start(exe, tmp.resolve("out.txt"), "47301");
                     DatagramChannel client = DatagramChannel.open()) {
                    t.awaitLines(1);
                    client.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
                    client.send(ByteBuffer.wrap("queued-1".getBytes()), server);
                    client.send(ByteBuffer.wrap("queued-2".getBytes()), server);
                    Checkpoint.dump(options(t.pid()));
                    await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                    String log = Files.readString(tmp.resolve("img/dump.log"));
                    assertTrue(log.contains("2 datagram(s) of 16 bytes waiting to be read are dropped"), log);
                    Checkpoint.restore(tmp.resolve("img"));
                    Files.createFile(tmp.resolve("go"));
                    client.send(ByteBuffer.wrap("after".getBytes()), server);
                    ByteBuffer echo = ByteBuffer.allocate(64);
                    client.receive(echo);
                    assertEquals("after", new String(echo.array(), 0, echo.position()));
                    assertEquals("got after", t.lines().get(t.lines().size() - 1));
                }
            });
        }
    }

    /**
     * UDP-Lite sockets (IPPROTO_UDPLITE), IPv4 bound and IPv6 bound and connected to the first: each keeps its
     * address (and the connection), and after the restore a datagram goes from the second to the first. Refused
     * before; CRIU dumps them too.
     */
    @Test
    void udpLiteSocketsComeBackBoundAndConnected() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Path exe = CProgram.compile(tmp, "udplite", """
                        #include <arpa/inet.h>
                        #include <poll.h>
                        #include <stdio.h>
                        #include <string.h>
                        #include <sys/socket.h>
                        #include <unistd.h>
                        int main(void) {
                            struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
                            socklen_t alen = sizeof a;
                            int s = socket(AF_INET6, SOCK_DGRAM, 136), c = socket(AF_INET6, SOCK_DGRAM, 136);
                            int v4 = socket(AF_INET, SOCK_DGRAM, 136);
                            struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                            if (s < 0 || c < 0 || v4 < 0 || bind(s, (void *)&a, sizeof a) || getsockname(s, (void *)&a, &alen)
                                || connect(c, (void *)&a, sizeof a) || bind(v4, (void *)&b, sizeof b)) {
                                printf("FAIL setup\\n"); return 1;
                            }
                            printf("ready %d\\n", ntohs(a.sin6_port)); fflush(stdout);
                            while (access("go", F_OK) != 0) usleep(20000);
                            struct sockaddr_in6 now; socklen_t nl = sizeof now;
                            getsockname(s, (void *)&now, &nl);
                            char buf[16] = {0};
                            struct pollfd p = {s, POLLIN};
                            if (send(c, "lite", 4, 0) != 4 || poll(&p, 1, 2000) != 1 || recv(s, buf, 15, 0) != 4) {
                                printf("FAIL exchange\\n"); return 1;
                            }
                            printf("port %d %s\\n", ntohs(now.sin6_port), buf); fflush(stdout);
                            return 0;
                        }
                        """);
                try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
                    t.awaitLines(1);
                    String port = t.lines().get(0).substring("ready ".length());
                    Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
                    await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                    assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
                    Files.createFile(tmp.resolve("go"));
                    t.awaitLines(2);
                    assertEquals("port " + port + " lite", t.lines().get(1));
                }
            });
        }
    }

    @Test
    void aCorkedDatagramIsRefusedAndTheProcessRunsOn() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Path exe = CProgram.compile(tmp, "echo", ECHO);
                try (Target t = Target.start(exe, tmp.resolve("out.txt"), "47302", "cork")) {
                    t.awaitLines(1);
                    CryoException e = assertThrows(CryoException.class, () -> Checkpoint.dump(options(t.pid())));
                    assertTrue(e.getMessage().matches("cannot dump pid " + t.pid() + ": fd 4 \\(UDP socket socket:\\[\\d+\\]\\) "
                            + "on 0.0.0.0:\\d+ holds a corked datagram of \\d+ unsent bytes, which cannot be checkpointed; "
                            + "dump once it is sent"), e.getMessage());
                    assertTrue(t.alive(), "the refused process runs on");
                }
            });
        }
    }
}
