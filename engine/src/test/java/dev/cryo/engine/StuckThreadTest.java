package dev.cryo.engine;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.sys.StopSignals;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Reaper;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A task of the tree that never reaches its ptrace stop: it waits uninterruptibly in clone(CLONE_VFORK) (its child
 * has memory of its own, so the tree passes the checks before the freeze) until that child sees a file and exits.
 * The freeze gives up at --timeout, or at once on SIGTERM, with an error naming the task and its wait; no task of
 * the tree stays traced (the tracer thread holding the stuck one ends), and every task runs on from where it was.
 */
@RootWithPtrace
@ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
class StuckThreadTest {
    @TempDir
    Path tmp;

    private static final String FIXTURE = """
            #define _GNU_SOURCE
            #include <sched.h>
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/syscall.h>
            #include <sys/wait.h>
            #include <time.h>
            #include <unistd.h>
            /* waits in clone(CLONE_VFORK), memory not shared, until the child sees the file "go" and exits */
            static void vfork_wait(void) {
                long c = syscall(SYS_clone, CLONE_VFORK | SIGCHLD, 0, 0, 0, 0);
                if (c == 0) {
                    printf("vforked\\n");
                    struct timespec ts = {0, 10000000};
                    while (access("go", F_OK) != 0) nanosleep(&ts, NULL);
                    _exit(0);
                }
                waitpid(c, NULL, 0);
            }
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IOLBF, 0);
                if (argc > 1 && strcmp(argv[1], "nested") == 0) { /* a child of the counter waits */
                    if (fork() == 0) { vfork_wait(); printf("child free\\n"); for (;;) pause(); }
                } else {
                    vfork_wait();
                }
                for (long i = 0;; i++) { printf("%ld\\n", i); usleep(10000); }
            }
            """;

    @Test
    void aRootThatNeverStopsFailsTheFreezeAtTheTimeoutAndRunsOn() throws Exception {
        Path exe = CProgram.compile(tmp, "vfork-wait", FIXTURE);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            awaitUninterruptible(t.pid());
            Path img = tmp.resolve("img");
            DumpOptions o = new DumpOptions(t.pid(), img, false, false, true, true, false, false, null, null,
                    Duration.ofSeconds(1));
            String m = assertThrows(CryoException.class, () -> Checkpoint.dump(o)).getMessage();
            assertTrue(m.contains("pid " + t.pid() + " did not stop within 1 s") && m.contains("state D")
                    && m.contains("--timeout") && m.contains("runs on"), m);
            assertUntraced(t.pid());
            Files.createFile(tmp.resolve("go"));
            int lines = t.lines().size();
            t.awaitLines(lines + 20);
            assertCounting(t.lines());
        } finally {
            Files.deleteIfExists(tmp.resolve("go"));
        }
    }

    @Test
    void sigtermEndsTheWaitForAChildThatNeverStopsAndTheTreeRunsOn() throws Exception {
        Path exe = CProgram.compile(tmp, "vfork-wait", FIXTURE);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), "nested")) {
            t.awaitLines(3);
            int child = (int) ProcessHandle.of(t.pid()).orElseThrow().children().findFirst().orElseThrow().pid();
            awaitUninterruptible(child);
            Path img = tmp.resolve("img");
            // the default bound, 10 s: only the signal can end the wait before it
            CompletableFuture<Throwable> dump = CompletableFuture.supplyAsync(() -> {
                try {
                    Checkpoint.dump(Checkpoint.dumpOptions(t.pid(), img, false));
                    return null;
                } catch (Throwable e) {
                    return e;
                }
            });
            await().atMost(Duration.ofSeconds(20)).until(() -> tracerOf(child) != 0 || dump.isDone());
            assertFalse(dump.isDone(), "the dump was waiting for pid " + child);
            StopSignals.raise("TERM"); // caught by the dump: it holds the tree
            Throwable e = dump.get(5, TimeUnit.SECONDS);
            assertInstanceOf(CryoException.class, e);
            String m = e.getMessage();
            assertTrue(m.contains("stopped by SIGTERM while pid " + child + " had not stopped yet")
                    && m.contains("process " + child + " of the tree of " + t.pid()) && m.contains("runs on"), m);
            assertUntraced(t.pid());
            assertUntraced(child);
            int lines = t.lines().size();
            t.awaitLines(lines + 20); // the root, frozen before its child was tried, was let go
            Files.createFile(tmp.resolve("go"));
            await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().contains("child free"));
            Syscall.raw(Syscall.KILL, child, 9);
            Reaper.reap(child);
        } finally {
            Files.deleteIfExists(tmp.resolve("go"));
        }
    }

    /** The task sits in the vfork wait: state D, in kernel_clone. */
    private static void awaitUninterruptible(int pid) {
        await().atMost(Duration.ofSeconds(10)).until(() -> stat(pid).startsWith("D"));
    }

    private static String stat(int pid) throws IOException {
        String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
        return s.substring(s.lastIndexOf(')') + 2);
    }

    private static int tracerOf(int pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("TracerPid:")) {
                return Integer.parseInt(line.substring(10).strip());
            }
        }
        return -1;
    }

    /** Untraced as soon as the dump returns: the tracer thread that held it is gone by then. */
    private static void assertUntraced(int pid) throws IOException {
        assertEquals(0, tracerOf(pid), "pid " + pid + " is still traced");
    }

    /** The counter's lines after "vforked" are 0, 1, 2, ... with none missing or repeated. */
    private static void assertCounting(List<String> lines) {
        List<String> numbers = lines.stream().filter(l -> l.matches("\\d+")).toList();
        for (int i = 0; i < numbers.size(); i++) {
            assertEquals(String.valueOf(i), numbers.get(i), "line " + i + " of " + numbers);
        }
    }
}
