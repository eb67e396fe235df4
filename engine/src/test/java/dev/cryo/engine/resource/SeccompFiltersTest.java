package dev.cryo.engine.resource;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.seccomp_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Seccomp filters come back in force, each thread with its own chain: the process installs two (getppid fails with
 * errno 42, getuid with 43), then a thread stacks a third on itself only (getgid, 44). Every line says which errno
 * each call gave; after a dump (the process killed) and a restore, the lines go on the same, and the images hold the
 * three filters once each, the thread's third naming the second as its previous.
 */
@RootWithPtrace
class SeccompFiltersTest {
    static final String FILTERED = """
            #include <errno.h>
            #include <pthread.h>
            #include <stddef.h>
            #include <stdio.h>
            #include <unistd.h>
            #include <linux/filter.h>
            #include <linux/seccomp.h>
            #include <sys/prctl.h>
            #include <sys/syscall.h>
            static void deny(int nr, int err) {
                struct sock_filter code[] = {
                    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
                    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
                    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                };
                struct sock_fprog prog = { sizeof code / sizeof code[0], code };
                if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { perror("seccomp"); _exit(1); }
            }
            static int err(long r) { return r < 0 ? errno : 0; }
            static void report(const char *who) {
                for (int i = 0;; i++) {
                    int a = err(syscall(SYS_getppid)), b = err(syscall(SYS_getuid)), c = err(syscall(SYS_getgid));
                    printf("%s %d %d %d\\n", who, a, b, c);
                    usleep(50000);
                }
            }
            static void *thread(void *arg) {
                deny(SYS_getgid, 44);
                report("thread");
                return arg;
            }
            int main(void) {
                setvbuf(stdout, NULL, _IOLBF, 0);
                prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                deny(SYS_getppid, 42);
                deny(SYS_getuid, 43);
                pthread_t t;
                pthread_create(&t, NULL, thread, NULL);
                report("main");
            }
            """;

    /** A filter (getppid fails with 42), then a fork: the child inherits it; both print what getppid gave. */
    static final String FORKED = """
            #include <errno.h>
            #include <stddef.h>
            #include <stdio.h>
            #include <unistd.h>
            #include <linux/filter.h>
            #include <linux/seccomp.h>
            #include <sys/prctl.h>
            #include <sys/syscall.h>
            int main(void) {
                setvbuf(stdout, NULL, _IOLBF, 0);
                struct sock_filter code[] = {
                    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
                    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 42),
                    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                };
                struct sock_fprog prog = { sizeof code / sizeof code[0], code };
                prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { perror("seccomp"); return 1; }
                const char *who = fork() == 0 ? "child" : "parent";
                for (;;) {
                    long r = syscall(SYS_getppid);
                    printf("%s %d\\n", who, r < 0 ? errno : 0);
                    usleep(50000);
                }
            }
            """;

    /** Strict mode: only read, write, exit and sigreturn; it spins and writes a line now and then. */
    static final String STRICT = """
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            #include <linux/seccomp.h>
            #include <sys/prctl.h>
            int main(void) {
                if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) { perror("PR_SET_SECCOMP"); return 1; }
                for (volatile unsigned long i = 0;; i++) {
                    if (i % 20000000 == 0) {
                        write(1, "tick\\n", 5);
                    }
                }
            }
            """;

    @TempDir
    Path tmp;

    /** Strict mode allows none of the syscalls Cryo needs: refused in one line before the freeze, the process untouched. */
    @Test
    void strictModeIsRefusedAndTheProcessRunsOn() throws Exception {
        Path exe = CProgram.compile(tmp, "strict", STRICT);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(2);
            var e = org.junit.jupiter.api.Assertions.assertThrows(dev.cryo.engine.CryoException.class,
                    () -> Checkpoint.dump(t.pid(), tmp.resolve("img"), false));
            assertTrue(e.getMessage().contains("pid " + t.pid()) && e.getMessage().contains("seccomp strict mode"),
                    e.getMessage());
            assertTrue(t.alive(), "the process runs on");
            t.awaitLines(t.lines().size() + 2);
            assertTrue(Files.readString(Path.of("/proc/" + t.pid() + "/status")).contains("TracerPid:\t0"),
                    "not traced any more");
        }
    }

    /** The child's filter is the parent's entry, and each comes back with one filter (not its parent's stacked on). */
    @Test
    void aChildSharesItsParentsFilterAndGetsItOnce() throws Exception {
        Path exe = CProgram.compile(tmp, "forked", FORKED);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> t.lines().contains("child 42")
                    && t.lines().contains("parent 42"));
            int child = (int) ProcessHandle.of(t.pid()).orElseThrow().children().findFirst().orElseThrow().pid();
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
            assertEquals(1, ImageDir.open(img).seccomp().getSeccompFiltersCount(), "one filter for both");
            int before = t.lines().size();
            assertEquals(0, Checkpoint.restore(img));
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                List<String> all = t.lines();
                List<String> after = all.subList(before, all.size());
                return after.contains("child 42") && after.contains("parent 42");
            });
            for (int pid : new int[]{t.pid(), child}) {
                String status = Files.readString(Path.of("/proc/" + pid + "/status"));
                assertTrue(status.contains("Seccomp_filters:\t1"), "pid " + pid + ": one filter: " + status);
            }
        }
    }

    @Test
    void filtersAreInForceAfterRestoreThreadByThread() throws Exception {
        Path exe = CProgram.compile(tmp, "filtered", FILTERED, "-pthread");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> t.lines().contains("thread 42 43 44"));
            assertEquals(List.of("main 42 43 0", "thread 42 43 44"), t.lines().stream().distinct().sorted().toList(),
                    "the filters work before the dump");
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());

            seccomp_entry table = ImageDir.open(img).seccomp();
            assertEquals(3, table.getSeccompFiltersCount(), "each filter once: " + table);
            assertFalse(table.getSeccompFilters(0).hasPrev(), "the first has no previous");
            assertEquals(0, table.getSeccompFilters(1).getPrev());
            assertEquals(1, table.getSeccompFilters(2).getPrev(), "the thread's own stacks on the process's two");

            int before = t.lines().size();
            assertEquals(0, Checkpoint.restore(img));
            // only what the restored process prints
            java.util.function.Supplier<List<String>> after = () -> {
                try {
                    List<String> all = t.lines();
                    return all.subList(before, all.size());
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            };
            await().atMost(Duration.ofSeconds(30)).until(() -> after.get().stream().filter(l -> l.startsWith("main"))
                    .count() >= 2 && after.get().stream().filter(l -> l.startsWith("thread")).count() >= 2);
            assertEquals(List.of("main 42 43 0", "thread 42 43 44"), after.get().stream().distinct().sorted().toList(),
                    "the filters work after the restore, the thread's third in the thread only");
            String status = Files.readString(Path.of("/proc/" + t.pid() + "/status"));
            assertTrue(status.contains("Seccomp:\t2") && status.contains("Seccomp_filters:\t2")
                    && status.contains("NoNewPrivs:\t1"), status);
        }
    }
}
