package dev.cryo.engine.net;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A connection still opening (SYN_SENT: its SYNs dropped by a rule of the test's network namespace) is dumped with
 * --tcp-established and opens again on restore, the rule gone: a program waiting in poll for it, or blocked in
 * connect(), finds it connected to its listener and exchanges a byte over it. Without the option it is refused,
 * naming where it goes, and the program runs on.
 */
@RootWithPtrace
class TcpSynSentTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"poll", "block"})
    void openingConnectionOpensAgainAfterTheRestore(String how) throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Path exe = CProgram.compile(tmp, "synsent", PROGRAM);
                int port = 20_000 + (int) (ProcessHandle.current().pid() % 20_000);
                NetSandbox.nft("add table inet t", "add chain inet t out { type filter hook output priority 0 ; }",
                        "add rule inet t out tcp dport " + port + " tcp flags syn drop");
                try (Target t = Target.start(exe, tmp.resolve("out.txt"), Integer.toString(port), how)) {
                    t.awaitLines(1);
                    assertEquals("connecting", t.lines().get(0));
                    await().atMost(Duration.ofSeconds(10)).until(() -> synSent(port));
                    Path refused = tmp.resolve("refused");
                    Files.createDirectories(refused);
                    CryoException e = assertThrows(CryoException.class, () -> Checkpoint.dump(new DumpOptions(t.pid(),
                            refused, false, true, true, false, false, false, null, null, null)));
                    assertTrue(e.getMessage().contains("still opening (SYN_SENT)")
                            && e.getMessage().contains("127.0.0.1:" + port), e.getMessage());
                    assertTrue(t.alive(), "a refused dump leaves the program running");

                    Path img = tmp.resolve("img");
                    Checkpoint.dump(new DumpOptions(t.pid(), img, false, false, true, true, false, false, null, null,
                            null));
                    await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                    var isk = ImageDir.open(img).files().stream().filter(f -> f.hasIsk()
                            && f.getIsk().getState() == TcpRepair.TCP_SYN_SENT).toList();
                    assertEquals(1, isk.size(), "the opening connection in files.img");
                    assertEquals(port, isk.get(0).getIsk().getDstPort());
                    NetSandbox.nft("delete table inet t");
                    Checkpoint.restore(new RestoreOptions(img, true, true, false, null, null));
                    t.awaitLines(3);
                    assertEquals(List.of("connecting", "connected", "exchanged"), t.lines());
                }
            });
        }
    }

    private static boolean synSent(int port) throws Exception {
        Process p = new ProcessBuilder("ss", "-tnH", "state", "syn-sent", "dport", "= :" + port)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor(10, TimeUnit.SECONDS);
        return !out.isBlank();
    }


    /**
     * Args: PORT HOW. Listens on 127.0.0.1:PORT, then connects to it: "poll" with a non-blocking connect and a
     * poll for POLLOUT, "block" with a blocking connect. Once connected, accepts and sends a byte across.
     */
    static final String PROGRAM = """
            #include <arpa/inet.h>
            #include <errno.h>
            #include <fcntl.h>
            #include <netinet/in.h>
            #include <poll.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                int l = socket(AF_INET, SOCK_STREAM, 0), one = 1, poll_it = !strcmp(argv[2], "poll");
                setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4)) { printf("FAIL listen\\n"); return 1; }
                int c = socket(AF_INET, SOCK_STREAM | (poll_it ? SOCK_NONBLOCK : 0), 0);
                printf("connecting\\n"); fflush(stdout);
                int r = connect(c, (struct sockaddr *)&a, sizeof a);
                if (poll_it) {
                    if (r == 0 || errno != EINPROGRESS) { printf("FAIL connect %s\\n", strerror(errno)); return 1; }
                    struct pollfd p = {.fd = c, .events = POLLOUT};
                    while (poll(&p, 1, -1) < 0 && errno == EINTR)
                        ;
                    int err = 0; socklen_t len = sizeof err;
                    getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len);
                    if (err) { printf("FAIL connect %s\\n", strerror(err)); return 1; }
                    fcntl(c, F_SETFL, 0);
                } else if (r) {
                    printf("FAIL connect %s\\n", strerror(errno)); return 1;
                }
                printf("connected\\n"); fflush(stdout);
                int s = accept(l, NULL, NULL);
                char b = 0;
                if (s < 0 || write(s, "x", 1) != 1 || read(c, &b, 1) != 1 || b != 'x') { printf("FAIL exchange\\n"); return 1; }
                printf("exchanged\\n"); fflush(stdout);
                return 0;
            }
            """;
}
