package dev.cryo.engine.net;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.restore.JoinNs;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * --join-ns: a server dumped in the test's namespaces is restored into a network namespace made for it (a
 * {@code ip netns} file) and into the uts and ipc namespaces of another process (by its pid): its namespace links are
 * theirs, it has their host name, and it answers inside that network namespace.
 */
@RootWithPtrace
class JoinNsTest {
    @TempDir
    Path tmp;

    @Test
    void restoredServerJoinsTheGivenNamespaces() throws Exception {
        Path exe = CProgram.compile(tmp, "server", SERVER);
        int port = 30_000 + (int) (ProcessHandle.current().pid() % 20_000);
        try (NetSandbox net = new NetSandbox();
             Target holder = Target.start(Path.of("/usr/bin/unshare"), tmp.resolve("holder.txt"), "-u", "-i", "sh",
                     "-c", "hostname joined-by-cryo && echo up && exec sleep 600");
             Target t = Target.start(exe, tmp.resolve("out.txt"), Integer.toString(port))) {
            holder.awaitLines(1);
            t.awaitLines(1);
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            var options = Checkpoint.restoreOptions(img).withJoinNs(List.of(JoinNs.parse("net:" + net.path()),
                    JoinNs.parse("uts:" + holder.pid()), JoinNs.parse("ipc:/proc/" + holder.pid() + "/ns/ipc")));
            assertEquals(0, Checkpoint.restore(options));
            assertEquals(Files.readSymbolicLink(Path.of("/proc/" + holder.pid() + "/ns/uts")),
                    Files.readSymbolicLink(Path.of("/proc/" + t.pid() + "/ns/uts")), "the holder's uts namespace");
            assertEquals(Files.readSymbolicLink(Path.of("/proc/" + holder.pid() + "/ns/ipc")),
                    Files.readSymbolicLink(Path.of("/proc/" + t.pid() + "/ns/ipc")), "the holder's ipc namespace");
            assertEquals(net.call(() -> Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net"))),
                    Files.readSymbolicLink(Path.of("/proc/" + t.pid() + "/ns/net")), "the sandbox's net namespace");
            String answer = net.call(() -> {
                try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                    s.setSoTimeout(10_000);
                    InputStream in = s.getInputStream();
                    return new String(in.readAllBytes()).strip();
                }
            });
            assertEquals("joined-by-cryo", answer, "the server answers in the joined network namespace with the "
                    + "joined host name");
        }
    }

    @Test
    void aNamespaceCryoCannotJoinIsRefusedByName() {
        CryoException e = assertThrows(CryoException.class, () -> JoinNs.parse("pid:1"));
        assertTrue(e.getMessage().contains("Cryo joins only net, uts and ipc"), e.getMessage());
        e = assertThrows(CryoException.class, () -> JoinNs.parse("net:/nonexistent/ns"));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
        e = assertThrows(CryoException.class, () -> JoinNs.parse("net"));
        assertTrue(e.getMessage().contains("expected NS:PID or NS:FILE"), e.getMessage());
    }

    /** Args: PORT. Listens on 127.0.0.1:PORT; each connection gets the host name, then is closed. */
    static final String SERVER = """
            #include <arpa/inet.h>
            #include <netinet/in.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
                setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4)) { printf("FAIL listen\\n"); return 1; }
                printf("listening\\n"); fflush(stdout);
                for (;;) {
                    int c = accept(l, NULL, NULL);
                    if (c < 0) continue;
                    char name[256] = {0};
                    gethostname(name, sizeof name - 1);
                    strcat(name, "\\n");
                    write(c, name, strlen(name));
                    close(c);
                }
            }
            """;
}
