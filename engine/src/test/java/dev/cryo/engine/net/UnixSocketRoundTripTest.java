package dev.cryo.engine.net;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageEntry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.sk_packet_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Unix sockets within the process: pairs, listener and its accepted connection, one-way datagrams, fds in flight. */
@RootWithPtrace
class UnixSocketRoundTripTest {
    @TempDir
    Path tmp;

    static String source(String name) throws IOException {
        try (InputStream in = UnixSocketRoundTripTest.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void everyShapeComesBackWithItsQueuesAndPassedFds() throws Exception {
        Path exe = CProgram.compile(tmp, "unix", source("unix-sockets.c"));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), tmp.toString())) {
            t.awaitLines(1);
            assertEquals("ready", t.lines().get(0));
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            ImageDir dir = ImageDir.open(img);
            long unix = dir.files().stream().filter(file_entry::hasUsk).count();
            assertEquals(11, unix, "every unix socket has its entry");
            List<ImageEntry> queued = dir.read("sk-queues.img").records();
            assertEquals(13, queued.size(), "every queued message is in sk-queues.img: " + queued);
            assertTrue(queued.stream().map(r -> (sk_packet_entry) r.message())
                    .anyMatch(p -> p.getScmCount() == 1 && p.getScm(0).getRightsCount() == 3), "the three passed fds are named");
            Checkpoint.restore(img);
            Files.createFile(tmp.resolve("go"));
            await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().size() >= 2);
            assertEquals(List.of("ready", "PASS"), t.lines());
        }
    }

    /**
     * Stream and seqpacket sockets bound but neither listening nor connected, and one never bound, as a server holds
     * them between bind and listen: they have no queue (a peek at one fails with EINVAL, which failed the dump). After
     * the restore the bound ones listen on their names and the unbound one connects to one of them.
     */
    @Test
    void boundSocketsThatNeitherListenNorConnectComeBack() throws Exception {
        Path exe = CProgram.compile(tmp, "unconn", """
                #include <errno.h>
                #include <stdio.h>
                #include <string.h>
                #include <sys/socket.h>
                #include <sys/un.h>
                #include <unistd.h>
                int main(void) {
                    struct sockaddr_un a = {.sun_family = AF_UNIX}, b = {.sun_family = AF_UNIX};
                    snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "cryo-unconn-%d", getpid());
                    socklen_t alen = sizeof(sa_family_t) + 1 + strlen(a.sun_path + 1);
                    snprintf(b.sun_path, sizeof b.sun_path, "seq.sock");
                    int st = socket(AF_UNIX, SOCK_STREAM, 0), sq = socket(AF_UNIX, SOCK_SEQPACKET, 0);
                    int loose = socket(AF_UNIX, SOCK_STREAM, 0);
                    unlink("seq.sock");
                    if (bind(st, (void *)&a, alen) || bind(sq, (void *)&b, sizeof b)) { printf("FAIL bind\\n"); return 1; }
                    printf("ready\\n"); fflush(stdout);
                    while (access("go", F_OK) != 0) usleep(20000);
                    if (listen(st, 1) || listen(sq, 1)) { printf("FAIL listen %s\\n", strerror(errno)); return 1; }
                    int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
                    if (connect(loose, (void *)&a, alen) || connect(c, (void *)&b, sizeof b)) {
                        printf("FAIL connect %s\\n", strerror(errno)); return 1;
                    }
                    int x = accept(st, NULL, NULL), y = accept(sq, NULL, NULL);
                    char ch = 0;
                    if (write(loose, "s", 1) != 1 || read(x, &ch, 1) != 1 || ch != 's'
                        || write(c, "q", 1) != 1 || read(y, &ch, 1) != 1 || ch != 'q') { printf("FAIL data\\n"); return 1; }
                    printf("PASS\\n"); fflush(stdout);
                    return 0;
                }
                """);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            Checkpoint.dumpRestoreGo(t);
            await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().size() >= 2);
            assertEquals(List.of("ready", "PASS"), t.lines());
        }
    }

    /**
     * A datagram server that removed its socket file with its clients connected (zdtm sk-unix-dgram-ghost): the
     * restore binds the name again for the clients to connect, then removes it. After the restore the clients' datagrams
     * reach the server and the file is still gone.
     */
    @Test
    void clientsOfADatagramServerWhoseFileWasRemovedReachItAgain() throws Exception {
        assertEquals(List.of("ready", "3 of 3, file gone"), Checkpoint.goAfterRestore(tmp, "dgramghost", """
                #include <stdio.h>
                #include <string.h>
                #include <sys/socket.h>
                #include <sys/un.h>
                #include <unistd.h>
                int main(void) {
                    struct sockaddr_un a = {.sun_family = AF_UNIX};
                    strcpy(a.sun_path, "srv.sock");
                    unlink("srv.sock");
                    int srv = socket(AF_UNIX, SOCK_DGRAM, 0), c[3];
                    if (bind(srv, (void *)&a, sizeof a)) return 1;
                    for (int i = 0; i < 3; i++) {
                        c[i] = socket(AF_UNIX, SOCK_DGRAM, 0);
                        if (connect(c[i], (void *)&a, sizeof a)) return 2;
                    }
                    unlink("srv.sock");
                    printf("ready\\n"); fflush(stdout);
                    while (access("go", F_OK) != 0) usleep(20000);
                    char b[4] = {0};
                    int got = 0;
                    for (int i = 0; i < 3; i++) {
                        if (send(c[i], "abc" + i, 1, 0) == 1 && recv(srv, b, 1, MSG_DONTWAIT) == 1 && b[0] == "abc"[i]) got++;
                    }
                    printf("%d of 3, file %s\\n", got, access("srv.sock", F_OK) == 0 ? "BACK" : "gone"); fflush(stdout);
                    return 0;
                }
                """, 2));
    }

    /**
     * One end of a datagram socketpair whose other end closed with messages left in the queue (zdtm socket_close_data):
     * they were dropped, as nothing in the tree could write them again. After the restore they are read in order, and
     * a send meets the closed peer as before the dump.
     */
    @Test
    void messagesLeftByAClosedDatagramPeerAreStillQueued() throws Exception {
        assertEquals(List.of("ready", "3 one 3 two, send Connection refused"), Checkpoint.goAfterRestore(tmp, "leftover", """
                #include <errno.h>
                #include <stdio.h>
                #include <string.h>
                #include <sys/socket.h>
                #include <unistd.h>
                int main(void) {
                    int p[2];
                    char b[16] = {0}, c[16] = {0};
                    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, p) || send(p[1], "one", 3, 0) != 3 || send(p[1], "two", 3, 0) != 3)
                        return 1;
                    close(p[1]);
                    printf("ready\\n"); fflush(stdout);
                    while (access("go", F_OK) != 0) usleep(20000);
                    int n1 = recv(p[0], b, sizeof b - 1, MSG_DONTWAIT), n2 = recv(p[0], c, sizeof c - 1, MSG_DONTWAIT);
                    int sent = send(p[0], "x", 1, MSG_DONTWAIT);
                    printf("%d %s %d %s, send %s\\n", n1, b, n2, c, sent < 0 ? strerror(errno) : "went"); fflush(stdout);
                    return 0;
                }
                """, 2));
    }

    /**
     * A datagram socket bound to a name and connected to it (its own peer), with a message queued: the restore once
     * took it for one end of a pair and made a socketpair, so what it wrote after went to a socket nobody reads
     * (zdtm sockets_dgram hung there).
     */
    @Test
    void aDatagramSocketConnectedToItselfTalksToItselfAgain() throws Exception {
        Path exe = CProgram.compile(tmp, "self", """
                #include <poll.h>
                #include <stdio.h>
                #include <string.h>
                #include <sys/socket.h>
                #include <sys/un.h>
                #include <unistd.h>
                static int take(int fd, char *b) {
                    struct pollfd p = {fd, POLLIN};
                    if (poll(&p, 1, 2000) != 1) return -1;
                    int n = read(fd, b, 15); b[n > 0 ? n : 0] = 0; return n;
                }
                int main(void) {
                    struct sockaddr_un a = {.sun_family = AF_UNIX};
                    char b[16];
                    strcpy(a.sun_path, "self.sock");
                    unlink(a.sun_path);
                    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
                    if (bind(s, (void *)&a, sizeof a) || connect(s, (void *)&a, sizeof a)
                        || write(s, "queued", 6) != 6) { printf("FAIL setup\\n"); return 1; }
                    printf("ready\\n"); fflush(stdout);
                    while (access("go", F_OK) != 0) usleep(20000);
                    int n1 = take(s, b);
                    printf("%d %s", n1, b);
                    write(s, "again", 5);
                    int n2 = take(s, b);
                    printf(", %d %s\\n", n2, b); fflush(stdout);
                    return 0;
                }
                """);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            Checkpoint.dumpRestoreGo(t);
            await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().size() >= 2);
            assertEquals(List.of("ready", "6 queued, 5 again"), t.lines());
        }
    }

    /**
     * A listener with two connections of its own process not accepted yet (CRIU's zdtm sockets00): refused before.
     * The connecting ends are dumped with the listener as their peer, as CRIU writes them, and the restore connects
     * them again: after it the listener accepts both, in turn, and each carries bytes both ways; the socket file keeps
     * the mode and owner the program gave it (CRIU's file_perms; before, Cryo's). A third mode writes
     * to one before the dump: the half in the queue holds bytes only accepting could read, which is refused by name
     * (as CRIU refuses it), the process running on.
     */
    static final String PENDING = """
            #include <stdio.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <sys/stat.h>
            #include <sys/un.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                struct sockaddr_un a = { .sun_family = AF_UNIX };
                strcpy(a.sun_path, argv[1]);
                int l = socket(AF_UNIX, SOCK_STREAM, 0), c1 = socket(AF_UNIX, SOCK_STREAM, 0);
                int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
                setvbuf(stdout, NULL, _IONBF, 0);
                if (bind(l, (void *)&a, sizeof a) || chmod(argv[1], 0640) || chown(argv[1], 65534, 65534)
                    || listen(l, 4) || connect(c1, (void *)&a, sizeof a)
                    || connect(c2, (void *)&a, sizeof a)) { perror("setup"); return 1; }
                if (argc > 2) write(c1, "early", 5);
                printf("ready\\n");
                while (access("go", F_OK) != 0) usleep(20000);
                char b[8] = {0}, d[8] = {0};
                int s1 = accept(l, NULL, NULL), s2 = accept(l, NULL, NULL);
                if (s1 < 0 || s2 < 0 || write(c1, "one", 3) != 3 || write(c2, "two", 3) != 3 || read(s1, b, 7) != 3
                    || read(s2, d, 7) != 3 || write(s1, "x", 1) != 1 || read(c1, b + 3, 1) != 1) {
                    printf("FAIL\\n"); return 1;
                }
                printf("%s %s\\n", b, d);
                return 0;
            }
            """;

    @Test
    void connectionsOfTheTreeNotYetAcceptedWaitToBeAcceptedAgain() throws Exception {
        Path exe = CProgram.compile(tmp, "pending", PENDING);
        Path path = tmp.resolve("pending.sock");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), path.toString())) {
            t.awaitLines(1);
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            Checkpoint.restore(img);
            java.util.Map<String, Object> st = Files.readAttributes(path, "unix:mode,uid,gid",
                    java.nio.file.LinkOption.NOFOLLOW_LINKS);
            assertEquals(List.of(0140640, 65534, 65534), List.of(st.get("mode"), st.get("uid"), st.get("gid")),
                    "the socket file's mode and owner");
            Files.createFile(tmp.resolve("go"));
            await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().size() >= 2);
            assertEquals(List.of("ready", "onex two"), t.lines());
        }
    }

    @Test
    void aConnectionNotYetAcceptedThatHoldsBytesIsRefused() throws Exception {
        Path exe = CProgram.compile(tmp, "pending", PENDING);
        Path path = tmp.resolve("pending.sock");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), path.toString(), "early")) {
            t.awaitLines(1);
            CryoException e = assertThrows(CryoException.class, () -> Checkpoint.dump(t.pid(), tmp.resolve("img"), false));
            assertTrue(e.getMessage().startsWith("cannot dump pid " + t.pid() + ": fd 3 (unix stream socket " + path
                    + ") listens with 2 connection(s) not yet accepted: socket:[") && e.getMessage().contains(
                    "wrote to its connection (") && e.getMessage().contains("which only accepting it could read"), e.getMessage());
            assertTrue(t.alive(), "the refused process runs on");
        }
    }

    @Test
    void socketPairsWithoutQueuesNeedNoQueueImage() throws Exception {
        Path exe = CProgram.compile(tmp, "pair", """
                #include <stdio.h>
                #include <sys/socket.h>
                #include <unistd.h>
                int main(void) {
                    int sv[2]; char b[4];
                    setvbuf(stdout, NULL, _IONBF, 0);
                    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
                    printf("ready\\n");
                    while (access("go", F_OK) != 0) usleep(1000);
                    write(sv[0], "abc", 3);
                    printf(read(sv[1], b, 4) == 3 ? "PASS\\n" : "FAIL\\n");
                    while (1) pause();
                }
                """);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertTrue(!Files.exists(img.resolve("sk-queues.img")));
            Checkpoint.restore(img);
            Files.createFile(tmp.resolve("go"));
            await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().size() >= 2);
            assertEquals(List.of("ready", "PASS"), t.lines());
        }
    }
}
