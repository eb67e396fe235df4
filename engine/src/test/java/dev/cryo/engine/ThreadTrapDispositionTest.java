package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where calls run in a task are stepped over (one SIGTRAP stop each) rather than stopped at their entry and exit:
 * a dump's calls in each thread where the kernel's task iterator is not used ({@code cryo.threads.kernel=off} here),
 * and a restore's calls in a task being built until it gets its own signal state. Either way the threads' signal
 * state is as it was: SIGTRAP's disposition (handled, ignored, default), a SIGTRAP pending in a thread that blocks
 * it, and every mask. Compared in /proc, thread by thread, before and after.
 */
@RootWithPtrace
class ThreadTrapDispositionTest {
    @TempDir
    Path tmp;

    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <pthread.h>
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>

            static volatile sig_atomic_t traps;
            static void on_trap(int sig) { (void)sig; traps++; }

            /* argv[2] == "pending": this thread blocks SIGTRAP and sends itself one, which stays pending */
            static void *work(void *arg) {
                if (arg) {
                    sigset_t s;
                    sigemptyset(&s);
                    sigaddset(&s, SIGTRAP);
                    pthread_sigmask(SIG_BLOCK, &s, NULL);
                    pthread_kill(pthread_self(), SIGTRAP);
                }
                for (;;)
                    usleep(20000);
                return NULL;
            }

            int main(int argc, char **argv) {
                const char *mode = argc > 1 ? argv[1] : "handled";
                int pending = argc > 2 && strcmp(argv[2], "pending") == 0;
                if (strcmp(mode, "handled") == 0) {
                    struct sigaction sa;
                    memset(&sa, 0, sizeof sa);
                    sa.sa_handler = on_trap;
                    sigaction(SIGTRAP, &sa, NULL);
                } else if (strcmp(mode, "ignored") == 0) {
                    signal(SIGTRAP, SIG_IGN);
                }
                pthread_t t[3];
                for (int i = 0; i < 3; i++)
                    pthread_create(&t[i], NULL, work, pending && i == 1 ? (void *)1 : NULL);
                usleep(100000);
                printf("ready\\n");
                fflush(stdout);
                for (;;)
                    usleep(20000);
            }
            """;

    @ParameterizedTest
    @ValueSource(strings = {"handled", "ignored", "default", "handled pending", "ignored pending"})
    void leaveRunningKeepsEveryThreadsSignalState(String mode) throws Exception {
        Path exe = CProgram.compile(tmp, "trap", PROGRAM, "-pthread");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), mode.split(" "))) {
            t.awaitLines(1);
            Map<String, String> before = signalState(t.pid());
            assertEquals(4, before.size() / 5, "4 threads: " + before);
            Checkpoint.dump(t.pid(), tmp.resolve("img"), true);
            assertTrue(t.alive(), "pid " + t.pid() + " runs on after -R");
            assertEquals(before, signalState(t.pid()), "signal state of every thread of pid " + t.pid());
            System.setProperty("cryo.threads.kernel", "off"); // the threads' own calls, stepped where they may be
            try {
                Checkpoint.dump(t.pid(), tmp.resolve("img-calls"), true);
            } finally {
                System.clearProperty("cryo.threads.kernel");
            }
            assertTrue(Files.readString(tmp.resolve("img-calls").resolve("dump.log")).contains("(remote calls"));
            assertEquals(before, signalState(t.pid()), "signal state of every thread of pid " + t.pid()
                    + " after a dump by remote calls");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"handled", "ignored", "handled pending", "ignored pending"})
    void restoreBringsBackEveryThreadsSignalState(String mode) throws Exception {
        Path exe = CProgram.compile(tmp, "trap", PROGRAM, "-pthread");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), mode.split(" "))) {
            t.awaitLines(1);
            Map<String, String> before = signalState(t.pid());
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertEquals(before, signalState(t.pid()), "signal state of every thread of restored pid " + t.pid());
        }
    }

    /** SigPnd, ShdPnd, SigBlk, SigIgn and SigCgt of every thread, keyed "TID KEY". */
    static Map<String, String> signalState(int pid) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (var tasks = Files.list(Path.of("/proc", Integer.toString(pid), "task"))) {
            for (Path task : tasks.toList()) {
                for (String line : Files.readAllLines(task.resolve("status"))) {
                    String key = line.substring(0, Math.max(0, line.indexOf(':')));
                    if (key.equals("SigPnd") || key.equals("ShdPnd") || key.equals("SigBlk") || key.equals("SigIgn")
                            || key.equals("SigCgt")) {
                        out.put(task.getFileName() + " " + key, line.substring(line.indexOf(':') + 1).strip());
                    }
                }
            }
        }
        return out;
    }
}
