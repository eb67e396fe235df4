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
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The socket options of sk_opts_entry that a restore used to leave at their defaults: SO_PASSCRED and SO_PASSSEC on a
 * unix datagram pair (its messages then carry the sender's credentials), and on a UDP socket SO_DONTROUTE,
 * SO_NO_CHECK, SO_OOBINLINE, SO_BINDTODEVICE and a classic BPF filter (SO_ATTACH_FILTER), plus its buffer
 * size set by the program and autotuning's lock (SO_BUF_LOCK). No traffic but the pair's. After the restore the
 * program reads each option back itself and says which differs.
 */
@RootWithPtrace
class SocketOptionsRoundTripTest {
    @TempDir
    Path tmp;

    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <linux/filter.h>
            #include <netinet/in.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <unistd.h>
            #ifndef SO_BUF_LOCK
            #define SO_BUF_LOCK 72
            #endif
            static int get(int fd, int opt) { int v = -1; socklen_t l = sizeof(v); getsockopt(fd, SOL_SOCKET, opt, &v, &l); return v; }
            static int on(int fd, int opt) { int one = 1; return setsockopt(fd, SOL_SOCKET, opt, &one, sizeof(one)); }
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                int pair[2], udp = socket(AF_INET, SOCK_DGRAM, 0), plain = socket(AF_INET, SOCK_DGRAM, 0);
                if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pair) || udp < 0 || plain < 0) return 2;
                struct sock_filter code[] = {{BPF_LD | BPF_W | BPF_LEN, 0, 0, 0}, {BPF_RET | BPF_K, 0, 0, 0xfff}};
                struct sock_fprog prog = {2, code};
                int buf = 50000;
                if (on(pair[1], SO_PASSCRED) || on(pair[1], SO_PASSSEC) || on(udp, SO_DONTROUTE) || on(udp, SO_NO_CHECK)
                        || on(udp, SO_OOBINLINE) || setsockopt(udp, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3)
                        || setsockopt(udp, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog))
                        || setsockopt(udp, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf))) return 3;
                int lockBefore = get(udp, SO_BUF_LOCK), plainRcv = get(plain, SO_RCVBUF);
                for (int i = 0;; i++) {
                    if (access(argv[1], F_OK) == 0) {
                        const char *bad = NULL;
                        char dev[16] = {0}, data[8], ctl[CMSG_SPACE(sizeof(struct ucred))];
                        socklen_t dl = sizeof(dev);
                        struct sock_filter back[4];
                        socklen_t n = 4; /* SO_GET_FILTER counts in instructions */
                        struct iovec iov = {data, sizeof(data)};
                        struct msghdr m = {0};
                        m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = ctl; m.msg_controllen = sizeof(ctl);
                        if (get(pair[1], SO_PASSCRED) != 1) bad = "SO_PASSCRED";
                        else if (get(pair[1], SO_PASSSEC) != 1) bad = "SO_PASSSEC";
                        else if (get(udp, SO_DONTROUTE) != 1) bad = "SO_DONTROUTE";
                        else if (get(udp, SO_NO_CHECK) != 1) bad = "SO_NO_CHECK";
                        else if (get(udp, SO_OOBINLINE) != 1) bad = "SO_OOBINLINE";
                        else if (getsockopt(udp, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl) || strcmp(dev, "lo")) bad = "SO_BINDTODEVICE";
                        else if (getsockopt(udp, SOL_SOCKET, SO_GET_FILTER, back, &n) || n != 2 || memcmp(back, code, sizeof(code))) bad = "SO_ATTACH_FILTER";
                        else if (get(udp, SO_RCVBUF) != 2 * buf) bad = "SO_RCVBUF";
                        else if (get(udp, SO_BUF_LOCK) != lockBefore) bad = "SO_BUF_LOCK (udp)";
                        else if (get(plain, SO_BUF_LOCK) != 0 || get(plain, SO_RCVBUF) != plainRcv) bad = "SO_BUF_LOCK (plain)";
                        else if (get(pair[0], SO_PASSCRED) != 0) bad = "SO_PASSCRED on the other end";
                        else if (send(pair[0], "x", 1, 0) != 1 || recvmsg(pair[1], &m, 0) != 1 || !CMSG_FIRSTHDR(&m)
                                || CMSG_FIRSTHDR(&m)->cmsg_type != SCM_CREDENTIALS) bad = "credentials";
                        else if (((struct ucred *) CMSG_DATA(CMSG_FIRSTHDR(&m)))->pid != getpid()) bad = "credentials' pid";
                        printf("%s\\n", bad ? bad : "ok");
                        return 0;
                    }
                    printf("%d\\n", i);
                    usleep(5000);
                }
            }
            """;

    @Test
    void optionsASocketWasGivenComeBack() throws Exception {
        Path exe = CProgram.compile(tmp, "sockopts", PROGRAM);
        Path cue = tmp.resolve("check");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), cue.toString())) {
            t.awaitLines(2);
            Path img = Files.createDirectories(tmp.resolve("img"));
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(img));
            assertTrue(t.alive(), "restored pid " + t.pid() + " runs");
            t.awaitLines(t.lines().size() + 2);
            Files.createFile(cue);
            await().atMost(Duration.ofSeconds(20)).until(() -> !t.alive());
            List<String> lines = t.lines();
            assertEquals("ok", lines.get(lines.size() - 1));
        }
    }
}
