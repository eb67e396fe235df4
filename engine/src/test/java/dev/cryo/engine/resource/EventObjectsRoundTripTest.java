package dev.cryo.engine.resource;

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
 * One process holding an eventfd, an epoll set, a timerfd, a signalfd, an inotify watch and an alarm goes through
 * a dump and a restore; once told (a file appears in its directory, which its inotify watch must report), it
 * checks every one of them and prints "ok" or what differs.
 */
@RootWithPtrace
class EventObjectsRoundTripTest {
    @TempDir
    Path tmp;

    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <stdio.h>
            #include <stdint.h>
            #include <string.h>
            #include <signal.h>
            #include <unistd.h>
            #include <sys/epoll.h>
            #include <sys/eventfd.h>
            #include <sys/inotify.h>
            #include <sys/signalfd.h>
            #include <sys/timerfd.h>
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                char check[4096]; snprintf(check, sizeof(check), "%s/check", argv[1]);
                int efd = eventfd(7, EFD_SEMAPHORE | EFD_NONBLOCK);
                int ep = epoll_create1(0);
                struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xabcdef0123456789ULL};
                epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
                int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
                struct itimerspec its = {.it_interval = {5, 0}, .it_value = {3600, 0}};
                timerfd_settime(tfd, 0, &its, NULL);
                sigset_t m; sigemptyset(&m); sigaddset(&m, SIGHUP); sigprocmask(SIG_BLOCK, &m, NULL);
                int sfd = signalfd(-1, &m, SFD_NONBLOCK);
                kill(getpid(), SIGHUP);
                int in = inotify_init1(IN_NONBLOCK);
                int wd = inotify_add_watch(in, argv[1], IN_CREATE);
                alarm(3000);
                for (int i = 0;; i++) {
                    if (access(check, F_OK) == 0) {
                        const char *bad = NULL;
                        uint64_t v = 0;
                        struct epoll_event got;
                        char buf[4096] __attribute__((aligned(8)));
                        struct signalfd_siginfo si;
                        struct itimerspec now;
                        if (epoll_wait(ep, &got, 1, 0) != 1 || got.data.u64 != 0xabcdef0123456789ULL) bad = "epoll";
                        else if (read(efd, &v, 8) != 8 || v != 1) bad = "eventfd semaphore";
                        else if (timerfd_gettime(tfd, &now) || now.it_interval.tv_sec != 5 || now.it_value.tv_sec > 3600
                                 || now.it_value.tv_sec == 0) bad = "timerfd";
                        else if (read(sfd, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != SIGHUP) bad = "signalfd";
                        else if (read(in, buf, sizeof(buf)) <= 0 || ((struct inotify_event *)buf)->wd != wd
                                 || strcmp(((struct inotify_event *)buf)->name, "check")) bad = "inotify";
                        else { unsigned left = alarm(0); if (left == 0 || left > 3000) bad = "alarm"; }
                        printf("%s\\n", bad ? bad : "ok");
                        return 0;
                    }
                    printf("%d\\n", i);
                    usleep(10000);
                }
            }
            """;

    @Test
    void everyEventObjectKeepsItsState() throws Exception {
        Path exe = CProgram.compile(tmp, "events", PROGRAM);
        Path dir = Files.createDirectory(tmp.resolve("watched"));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), dir.toString())) {
            t.awaitLines(2);
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertTrue(t.alive(), "restored pid " + t.pid() + " runs");
            t.awaitLines(t.lines().size() + 2);
            Files.createFile(dir.resolve("check"));
            await().atMost(Duration.ofSeconds(20)).until(() -> !t.alive());
            List<String> lines = t.lines();
            assertEquals("ok", lines.get(lines.size() - 1));
        }
    }

    /**
     * One fd number added to an epoll many times, each time for another file, the fd closed between: the kernel keeps
     * each registration (a file and the number it was added with), and each still has a holder elsewhere (the pipe's
     * read end). kcmp told them apart only by number, so every one was taken for the first, and the restore failed
     * with EEXIST (CRIU's zdtm epoll). After the restore each pipe still wakes its own registration.
     */
    @Test
    void registrationsThatShareAClosedFdNumberStayApart() throws Exception {
        Path exe = CProgram.compile(tmp, "reused", """
                #include <stdio.h>
                #include <sys/epoll.h>
                #include <unistd.h>
                #define N 20
                int main(void) {
                    int ep = epoll_create1(0), p[N][2];
                    for (int i = 0; i < N; i++) {
                        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1000 + i};
                        if (pipe(p[i]) || dup2(p[i][0], 99) != 99 || epoll_ctl(ep, EPOLL_CTL_ADD, 99, &ev)) {
                            printf("FAIL setup %d\\n", i); return 1;
                        }
                        close(99);
                    }
                    printf("ready\\n"); fflush(stdout);
                    while (access("go", F_OK) != 0) usleep(20000);
                    for (int i = 0; i < N; i++) {
                        struct epoll_event ev;
                        char c;
                        if (write(p[i][1], "x", 1) != 1 || epoll_wait(ep, &ev, 1, 2000) != 1 || ev.data.u64 != 1000 + i
                            || read(p[i][0], &c, 1) != 1) {
                            printf("FAIL pipe %d\\n", i); return 1;
                        }
                    }
                    printf("PASS\\n"); fflush(stdout);
                    return 0;
                }
                """);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            Checkpoint.dumpRestoreGo(t);
            t.awaitLines(2);
            assertEquals(List.of("ready", "PASS"), t.lines());
        }
    }

    /**
     * An inotify watch on a file that was deleted while the program holds it open (CRIU's zdtm inotify00): refused
     * before. The file comes back as a ghost at its old name for the restore, the watch is added again by that name,
     * and the name goes before the program runs: closing its fd after the restore wakes the watch (IN_CLOSE_WRITE),
     * and a file made again at that name wakes the directory's watch.
     */
    @Test
    void aWatchOnADeletedFileHeldOpenWatchesItAgain() throws Exception {
        Path exe = CProgram.compile(tmp, "watch-deleted", """
                #include <fcntl.h>
                #include <poll.h>
                #include <stdio.h>
                #include <sys/inotify.h>
                #include <unistd.h>
                static unsigned events(int in) {
                    char buf[4096]; unsigned mask = 0;
                    struct pollfd p = {in, POLLIN};
                    while (poll(&p, 1, 500) == 1) {
                        ssize_t n = read(in, buf, sizeof buf);
                        for (char *e = buf; n > 0 && e < buf + n; e += sizeof(struct inotify_event) + ((struct inotify_event *)e)->len)
                            mask |= ((struct inotify_event *)e)->mask;
                    }
                    return mask;
                }
                int main(void) {
                    mkdir("d", 0755);
                    int fd = open("d/f", O_CREAT | O_RDWR | O_TRUNC, 0644), in = inotify_init1(IN_NONBLOCK);
                    if (fd < 0 || in < 0 || inotify_add_watch(in, "d", IN_CREATE | IN_DELETE) < 0
                        || inotify_add_watch(in, "d/f", IN_CLOSE_WRITE) < 0 || unlink("d/f")) {
                        printf("FAIL setup\\n"); return 1;
                    }
                    events(in);
                    printf("ready\\n"); fflush(stdout);
                    while (access("go", F_OK) != 0) usleep(20000);
                    close(fd);
                    unsigned closed = events(in);
                    close(open("d/f", O_CREAT | O_RDWR, 0644));
                    unsigned created = events(in);
                    printf("%s %s\\n", closed & IN_CLOSE_WRITE ? "closed" : "NOT-CLOSED",
                           created & IN_CREATE ? "created" : "NOT-CREATED");
                    fflush(stdout);
                    return 0;
                }
                """);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            Checkpoint.dumpRestoreGo(t);
            t.awaitLines(2);
            assertEquals(List.of("ready", "closed created"), t.lines());
        }
    }
}
