package dev.cryo.engine.net;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Half-closed TCP connections, both ends in the dumped process, dumped with --tcp-established and restored. A
 * drop rule set before the FINs holds one direction so that a FIN stays unacknowledged (FIN_WAIT1, LAST_ACK,
 * CLOSING); it is gone before the restore. After the restore each side must read exactly the bytes it had waiting,
 * then the end of the stream where a FIN had come in and not before, a write after the program's own shutdown
 * fails, and both sockets go on to the states the connection would have reached without the checkpoint.
 */
@RootWithPtrace
class TcpHalfClosedTest {
    @TempDir
    Path tmp;

    /** TCP states by number, as TCP_INFO gives them. */
    private static final Map<String, Integer> STATES = Map.of("FIN_WAIT1", 4, "FIN_WAIT2", 5, "CLOSE", 7,
            "CLOSE_WAIT", 8, "LAST_ACK", 9, "CLOSING", 11);
    /** Where a state may have moved on by itself between the restore and the program's first look. */
    private static final Map<Integer, Set<Integer>> SUCCESSORS = Map.of(4, Set.of(5, 7, 11), 5, Set.of(7),
            8, Set.of(), 9, Set.of(7), 11, Set.of(7));

    /**
     * {@code shut}: who shuts down its writing (c, the client; s, the server; c first); {@code held}: the direction
     * the drop rule holds (from the server's port, to it, or none).
     */
    @ParameterizedTest(name = "{0}: client {3}, server {4}")
    @CsvSource({
            "4, c,  none,  FIN_WAIT2, CLOSE_WAIT",
            "4, c,  sport, FIN_WAIT1, CLOSE_WAIT",
            "4, cs, sport, FIN_WAIT1, LAST_ACK",
            "4, cs, dport, CLOSING,   FIN_WAIT1",
            "6, c,  none,  FIN_WAIT2, CLOSE_WAIT",
            "6, cs, dport, CLOSING,   FIN_WAIT1"})
    void halfClosedConnectionComesBackAndEndsAsItWould(String family, String shut, String held, String clientState,
            String serverState) throws Exception {
        int c = STATES.get(clientState), s = STATES.get(serverState);
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Path exe = CProgram.compile(tmp, "halfclosed", PROGRAM);
                int port = 20_000 + (int) (ProcessHandle.current().pid() % 20_000);
                try (Target t = Target.start(exe, tmp.resolve("out.txt"), Integer.toString(port), family, shut)) {
                    t.awaitLines(1);
                    assertEquals("connected", t.lines().get(0));
                    if (!held.equals("none")) {
                        NetSandbox.nft("add table inet t", "add chain inet t out { type filter hook output priority 0 ; }",
                                "add rule inet t out tcp " + held + " " + port + " drop");
                    }
                    Files.createFile(tmp.resolve("go"));
                    t.awaitLines(2);
                    assertEquals("states c " + c + " s " + s, t.lines().get(1), "the connection before the dump");

                    Path img = tmp.resolve("img");
                    Checkpoint.dump(new DumpOptions(t.pid(), img, false, false, true, true, false, false, null, null,
                            null));
                    await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                    try (DirectoryStream<Path> ds = Files.newDirectoryStream(img, "tcp-stream-*.img")) {
                        assertEquals(2, java.util.stream.StreamSupport.stream(ds.spliterator(), false).count(),
                                "both ends went through repair mode");
                    }
                    if (!held.equals("none")) {
                        NetSandbox.nft("delete table inet t");
                    }
                    Checkpoint.restore(new RestoreOptions(img, true, true, false, null, null));
                    assertTrue(net.cryoTables().isEmpty(), "no Cryo table after the restore: " + net.cryoTables());
                    Files.createFile(tmp.resolve("go"));
                    t.awaitLines(7);
                    List<String> out = t.lines();
                    System.out.println(out);
                    String[] first = out.get(2).split(" ");
                    assertEquals("restored:", first[0], out.toString());
                    int c1 = Integer.parseInt(first[3]), s1 = Integer.parseInt(first[5]);
                    assertTrue(c1 == c || SUCCESSORS.get(c).contains(c1), "client right after the restore: " + out);
                    assertTrue(s1 == s || SUCCESSORS.get(s).contains(s1), "server right after the restore: " + out);
                    boolean serverShut = shut.contains("s");
                    assertEquals("c got 6 bytes" + (serverShut ? " then EOF" : ", no EOF"), out.get(3));
                    assertEquals("s got 5 bytes then EOF", out.get(4));
                    assertEquals("c send after its shutdown: EPIPE", out.get(5));
                    assertEquals(serverShut ? "later: states c 7 s 7" : "later: states c 5 s 8", out.get(6),
                            "where the connection ends up: " + out);
                }
            });
            assertTrue(net.cryoTables().isEmpty(), "no Cryo nftables table is left");
        }
    }


    /**
     * Args: PORT FAMILY(4|6) SHUT. Connects to itself over loopback; on "go", writes "hello" from the client and
     * "world!" from the server, then shuts down (client, then server, as SHUT says) and reports the states; on
     * the next "go" (after the restore) reads both sides, writes from the client and waits for the states to settle.
     */
    static final String PROGRAM = """
            #include <arpa/inet.h>
            #include <errno.h>
            #include <fcntl.h>
            #include <netinet/in.h>
            #include <netinet/tcp.h>
            #include <signal.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <unistd.h>
            static void wait_go(void) {
                while (access("go", F_OK) != 0)
                    usleep(20000);
                unlink("go");
            }
            static int st(int fd) {
                struct tcp_info ti; socklen_t len = sizeof ti;
                getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
                return ti.tcpi_state;
            }
            int main(int argc, char **argv) {
                int port = atoi(argv[1]), v6 = argv[2][0] == '6', one = 1;
                const char *shut = argv[3];
                struct sockaddr_storage ss = {0};
                socklen_t alen;
                if (v6) {
                    struct sockaddr_in6 *a = (void *)&ss;
                    a->sin6_family = AF_INET6; a->sin6_port = htons(port); a->sin6_addr = in6addr_loopback;
                    alen = sizeof *a;
                } else {
                    struct sockaddr_in *a = (void *)&ss;
                    a->sin_family = AF_INET; a->sin_port = htons(port); a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                    alen = sizeof *a;
                }
                int l = socket(ss.ss_family, SOCK_STREAM, 0);
                setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                if (bind(l, (void *)&ss, alen) || listen(l, 4)) { printf("FAIL listen %s\\n", strerror(errno)); return 1; }
                int c = socket(ss.ss_family, SOCK_STREAM, 0);
                if (connect(c, (void *)&ss, alen)) { printf("FAIL connect %s\\n", strerror(errno)); return 1; }
                int s = accept(l, NULL, NULL);
                close(l);
                signal(SIGPIPE, SIG_IGN);
                printf("connected\\n"); fflush(stdout);
                wait_go();
                write(c, "hello", 5);
                write(s, "world!", 6);
                if (strchr(shut, 'c')) shutdown(c, SHUT_WR);
                usleep(100000);
                if (strchr(shut, 's')) shutdown(s, SHUT_WR);
                usleep(300000);
                printf("states c %d s %d\\n", st(c), st(s)); fflush(stdout);
                wait_go();
                printf("restored: states c %d s %d\\n", st(c), st(s)); fflush(stdout);
                int fds[2] = {c, s};
                const char *names[2] = {"c", "s"};
                for (int k = 0; k < 2; k++) {
                    char b[64]; int total = 0, eof = 0;
                    for (int tries = 0; tries < 40 && !eof; tries++) {
                        int n = recv(fds[k], b, sizeof b, MSG_DONTWAIT);
                        if (n > 0) total += n; else if (n == 0) eof = 1; else usleep(50000);
                    }
                    printf("%s got %d bytes%s\\n", names[k], total, eof ? " then EOF" : ", no EOF");
                }
                int n = send(c, "x", 1, MSG_DONTWAIT);
                printf("c send after its shutdown: %s\\n", n < 0 && errno == EPIPE ? "EPIPE" : n < 0 ? strerror(errno) : "sent");
                int wc = strchr(shut, 's') ? 7 : 5, ws = strchr(shut, 's') ? 7 : 8;
                for (int i = 0; i < 300 && (st(c) != wc || st(s) != ws); i++)
                    usleep(50000);
                printf("later: states c %d s %d\\n", st(c), st(s)); fflush(stdout);
                return 0;
            }
            """;
}
