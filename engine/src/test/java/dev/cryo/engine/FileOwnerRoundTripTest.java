package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Signal-driven I/O across a dump and restore: each file keeps its owner (a process, or one thread through
 * F_SETOWN_EX), the signal it sends (F_SETSIG) and O_ASYNC, so data arriving after the restore signals the same task
 * with the same signal, naming the fd; a thread that owns a file (made after the fds on restore) gets its signals
 * itself. Before, the restored files had no owner and signalled nobody.
 */
@RootWithPtrace
class FileOwnerRoundTripTest {
    @TempDir
    Path tmp;

    private static final String FIXTURE = """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <pthread.h>
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <sys/stat.h>
            #include <time.h>
            #include <unistd.h>
            static volatile sig_atomic_t got[64], from[64], in[64];
            static volatile int worker, t2[2];
            static void on_signal(int s, siginfo_t *si, void *u) {
                got[s]++; in[s] = gettid(); if (si->si_code > 0) from[s] = si->si_fd;
            }
            static void async(int fd, int sig, int type, int owner) {
                struct f_owner_ex ex = { type, owner };
                fcntl(fd, F_SETOWN_EX, &ex);
                if (sig) fcntl(fd, F_SETSIG, sig);
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC | O_NONBLOCK);
            }
            static void show(const char *name, int fd) {
                struct f_owner_ex ex;
                fcntl(fd, F_GETOWN_EX, &ex);
                printf("%s owner %s %s sig %d async %d\\n", name, ex.type == F_OWNER_TID ? "tid" : "pid",
                       ex.pid == getpid() ? "self" : "other", fcntl(fd, F_GETSIG), !!(fcntl(fd, F_GETFL) & O_ASYNC));
            }
            static void async(int fd, int sig, int type, int owner);
            static void *thread(void *a) {
                worker = gettid();
                socketpair(AF_UNIX, SOCK_STREAM, 0, (int *) t2);
                async(t2[0], SIGRTMIN + 3, F_OWNER_TID, worker); /* this thread, made after the fds on restore */
                for (;;) pause();
            }
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                struct sigaction sa; memset(&sa, 0, sizeof sa);
                sa.sa_sigaction = on_signal; sa.sa_flags = SA_SIGINFO | SA_RESTART;
                sigaction(SIGIO, &sa, NULL); sigaction(SIGRTMIN + 2, &sa, NULL); sigaction(SIGUSR2, &sa, NULL);
                sigaction(SIGRTMIN + 3, &sa, NULL);
                pthread_t pt; pthread_create(&pt, NULL, thread, NULL);
                while (!t2[1]) usleep(1000);
                int p[2], s[2];
                pipe(p);
                socketpair(AF_UNIX, SOCK_STREAM, 0, s);
                mkfifo("fifo", 0600);
                int f = open("fifo", O_RDWR);
                async(p[0], SIGRTMIN + 2, F_OWNER_PID, getpid());
                async(s[0], 0, F_OWNER_TID, gettid());
                async(f, SIGUSR2, F_OWNER_PID, getpid());
                printf("ready\\n");
                struct timespec ts = {0, 10000000};
                while (access("go", F_OK) != 0) nanosleep(&ts, NULL);
                show("pipe", p[0]); show("socket", s[0]); show("fifo", f);
                write(p[1], "x", 1); write(s[1], "y", 1); write(f, "z", 1); write(t2[1], "w", 1);
                for (int i = 0; i < 500 && !(got[SIGRTMIN + 2] && got[SIGIO] && got[SIGUSR2] && got[SIGRTMIN + 3]); i++)
                    nanosleep(&ts, NULL);
                printf("pipe signalled %d fd %d\\n", got[SIGRTMIN + 2] > 0, from[SIGRTMIN + 2] == p[0]);
                printf("socket signalled %d\\n", got[SIGIO] > 0);
                printf("fifo signalled %d fd %d\\n", got[SIGUSR2] > 0, from[SIGUSR2] == f);
                printf("thread's socket signalled %d in that thread %d\\n", got[SIGRTMIN + 3] > 0, in[SIGRTMIN + 3] == worker);
                for (;;) pause();
            }
            """;

    @Test
    void ownersSignalsAndAsyncComeBack() throws Exception {
        Path exe = CProgram.compile(tmp, "file-owner", FIXTURE);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            Checkpoint.restore(Checkpoint.dumpUntilGone(t, 1, tmp.resolve("img")));
            Files.createFile(tmp.resolve("go"));
            t.awaitLines(8);
            assertEquals(List.of("ready",
                    "pipe owner pid self sig 36 async 1",
                    "socket owner tid self sig 0 async 1",
                    "fifo owner pid self sig 12 async 1",
                    "pipe signalled 1 fd 1",
                    "socket signalled 1",
                    "fifo signalled 1 fd 1",
                    "thread's socket signalled 1 in that thread 1"), t.lines());
        }
    }
}
