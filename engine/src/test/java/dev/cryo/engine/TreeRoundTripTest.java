package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Reaper;
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
 * A tree dumped and restored by Cryo, twice: a parent and its child joined by a pipe (numbers in flight), by
 * shared anonymous memory (a counter both increment under a lock-free add) and by stdout (one description).
 * The parent prints what it reads from the pipe and the shared counter; after each restore the numbers go on
 * with no gap, the child keeps its pid and parent, and the counter keeps counting the child's adds.
 */
@RootWithPtrace
class TreeRoundTripTest {
    static final String PROGRAM = """
            #include <stdio.h>
            #include <stdlib.h>
            #include <unistd.h>
            #include <sys/mman.h>
            int main(void) {
                int p[2];
                long *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                setvbuf(stdout, NULL, _IONBF, 0);
                if (pipe(p) < 0 || shared == MAP_FAILED) return 1;
                pid_t kid = fork();
                if (kid == 0) {
                    close(p[0]);
                    for (int i = 0;; i++) {
                        __atomic_add_fetch(shared, 1, __ATOMIC_SEQ_CST);
                        if (write(p[1], &i, sizeof(i)) != sizeof(i)) _exit(2);
                        usleep(10000);
                    }
                }
                close(p[1]);
                for (;;) {
                    int i;
                    if (read(p[0], &i, sizeof(i)) != sizeof(i)) return 3;
                    long seen = __atomic_load_n(shared, __ATOMIC_SEQ_CST);
                    printf("%d %d %d %ld\\n", i, getpid(), kid, seen);
                }
            }
            """;

    @TempDir
    Path tmp;

    @Test
    void parentAndChildGoOnWithTheirPipeSharedMemoryAndPids() throws Exception {
        Path exe = CProgram.compile(tmp, "pair", PROGRAM);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(5);
            int child = Integer.parseInt(t.lines().get(0).split(" ")[2]);
            for (int cycle = 1; cycle <= 2; cycle++) {
                Path img = tmp.resolve("img-" + cycle);
                Checkpoint.dump(t.pid(), img, false);
                await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                Reaper.reap(t.pid()); // once restored, the parent is this JVM's child: its pid is free once reaped
                await().atMost(Duration.ofSeconds(10)).until(() -> !Files.exists(Path.of("/proc/" + t.pid()))
                        && !Files.exists(Path.of("/proc/" + child)));
                int before = t.lines().size();
                assertEquals(0, Checkpoint.restore(img));
                Target r = Target.adopt(t.pid(), t.out());
                assertTrue(r.alive(), "cycle " + cycle + ": the parent runs again");
                String stat = Files.readString(Path.of("/proc/" + child + "/stat"));
                assertEquals(Integer.toString(t.pid()), stat.substring(stat.lastIndexOf(')') + 2).split(" ")[1],
                        "cycle " + cycle + ": child " + child + " has its parent again");
                r.awaitLines(before + 10);
                List<String> lines = r.lines();
                for (int i = 0; i < lines.size(); i++) {
                    String[] f = lines.get(i).split(" ");
                    assertEquals(Integer.toString(i), f[0], "cycle " + cycle + ": line " + i + " of " + lines);
                    assertEquals(Integer.toString(t.pid()) + " " + child, f[1] + " " + f[2], "pids kept");
                    assertTrue(Long.parseLong(f[3]) >= i + 1, "the shared counter holds every add: " + lines.get(i));
                }
            }
            // the child too is ours to clean up
            dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KILL, child, 9);
        }
    }

    /**
     * 1,500 pipes and 1,500 unix socketpairs, each with bytes in flight, all inherited across fork (12,000 fds in
     * the tree): every end is one description for both tasks after the restore, and each read end gives back its
     * bytes. Each end was once checked by listing every fd of the tree or of the machine: such a tree took minutes
     * to check.
     */
    static final String MANY = """
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <fcntl.h>
            #include <unistd.h>
            #include <sys/resource.h>
            #include <sys/socket.h>
            #define N 3000
            static int rd[N], wr[N];
            static volatile sig_atomic_t go;
            static void on(int s) { go = 1; }
            int main(void) {
                struct rlimit r = {16384, 16384};
                if (setrlimit(RLIMIT_NOFILE, &r) != 0) return 1;
                for (int i = 0; i < N; i++) {
                    int p[2];
                    if ((i % 2 ? pipe(p) : socketpair(AF_UNIX, SOCK_STREAM, 0, p)) != 0) return 2;
                    rd[i] = p[0]; wr[i] = p[1];
                    char b[16];
                    if (write(wr[i], b, snprintf(b, sizeof b, "%d.", i)) <= 0) return 3;
                }
                signal(SIGUSR1, on);
                pid_t kid = fork();
                if (kid == 0) { for (;;) pause(); }
                printf("%d\\n", kid);
                fflush(stdout);
                while (!go) pause();
                int bad = 0;
                for (int i = 0; i < N; i++) {
                    char b[32] = {0}, want[16];
                    snprintf(want, sizeof want, "%d.", i);
                    if (fcntl(rd[i], F_SETFL, O_NONBLOCK) != 0 || read(rd[i], b, sizeof b - 1) != (int) strlen(want)
                            || strcmp(b, want) != 0) bad++;
                }
                kill(kid, SIGKILL);
                printf(bad ? "FAIL %d ends\\n" : "PASS\\n", bad);
                fflush(stdout);
                for (;;) pause();
            }
            """;

    @Test
    void thousandsOfPipesAndSocketpairsSharedAcrossForkComeBackWithTheirBytes() throws Exception {
        Path exe = CProgram.compile(tmp, "many", MANY);
        try (Target t = Target.start(exe, tmp.resolve("many.txt"))) {
            t.awaitLines(1);
            int child = Integer.parseInt(t.lines().get(0).strip());
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            Reaper.reap(t.pid());
            await().atMost(Duration.ofSeconds(10)).until(() -> !Files.exists(Path.of("/proc/" + t.pid()))
                    && !Files.exists(Path.of("/proc/" + child)));
            assertEquals(0, Checkpoint.restore(img));
            Target r = Target.adopt(t.pid(), t.out());
            String fd = "/proc/" + t.pid() + "/fd/", childFd = "/proc/" + child + "/fd/";
            for (int n : new int[]{3, 1500, 6002}) { // a socketpair's, a pipe's ends; the last write end
                assertEquals(Files.readSymbolicLink(Path.of(fd + n)), Files.readSymbolicLink(Path.of(childFd + n)),
                        "fd " + n + " is one description for both");
            }
            dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KILL, t.pid(), 10 /* SIGUSR1 */);
            r.awaitLines(2);
            assertEquals("PASS", r.lines().get(1), "every read end gives back its bytes: " + r.lines());
            Reaper.reap(child);
        }
    }

    /**
     * Zombies that died of a signal: SIGKILL (whose disposition cannot be set, not even to the default, which the
     * restore once tried and failed on), SIGSEGV (whose default action dumps core: the restore must not write a core
     * file or wake a core handler) and SIGTERM, beside one that exited 3. After the restore the parent reaps each
     * with the status it had.
     */
    static final String ZOMBIES = """
            #include <signal.h>
            #include <stdio.h>
            #include <sys/prctl.h>
            #include <sys/wait.h>
            #include <unistd.h>
            static volatile sig_atomic_t go;
            static void on(int s) { (void)s; go = 1; }
            int main(void) {
                int sigs[4] = {0, SIGKILL, SIGSEGV, SIGTERM};
                pid_t kid[4];
                signal(SIGUSR1, on);
                for (int i = 0; i < 4; i++) {
                    kid[i] = fork();
                    if (kid[i] == 0) {
                        prctl(PR_SET_DUMPABLE, 0); /* no core file of the test's own either */
                        if (sigs[i] == 0) _exit(3);
                        signal(sigs[i], SIG_DFL);
                        raise(sigs[i]);
                        _exit(99);
                    }
                }
                for (int i = 0; i < 4; i++) {
                    siginfo_t si;
                    waitid(P_PID, kid[i], &si, WEXITED | WNOWAIT);
                }
                printf("ready\\n"); fflush(stdout);
                while (!go) pause();
                for (int i = 0; i < 4; i++) {
                    int st = -1;
                    if (waitpid(kid[i], &st, 0) != kid[i]) { printf("FAIL waitpid %d\\n", kid[i]); return 1; }
                    if (WIFEXITED(st)) printf("exit %d", WEXITSTATUS(st));
                    else printf("signal %d%s", WTERMSIG(st), WCOREDUMP(st) ? " core" : "");
                    printf(i < 3 ? ", " : "\\n");
                }
                fflush(stdout);
                return 0;
            }
            """;

    @Test
    void zombiesKilledBySignalsAreReapedWithTheirSignals() throws Exception {
        Path exe = CProgram.compile(tmp, "zombies", ZOMBIES);
        try (Target t = Target.start(exe, tmp.resolve("zombies.txt"))) {
            t.awaitLines(1);
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            Reaper.reap(t.pid());
            await().atMost(Duration.ofSeconds(10)).until(() -> !Files.exists(Path.of("/proc/" + t.pid())));
            assertEquals(0, Checkpoint.restore(img));
            Target r = Target.adopt(t.pid(), t.out());
            dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KILL, t.pid(), 10 /* SIGUSR1 */);
            r.awaitLines(2);
            assertEquals("exit 3, signal 9, signal 11, signal 15", r.lines().get(1));
            Reaper.reap(t.pid());
        }
    }
}
