package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An interval itimer that expired while its signal waits (blocked, or the task frozen for the dump) reads as 0
 * left: the kernel arms it again only when the signal is taken. Restored with 0 left, it was disarmed for good and
 * the program got its one pending SIGALRM and no more. It must go on firing.
 */
@RootWithPtrace
class ItimerRestoreTest {
    @TempDir
    Path tmp;

    private static final String FIXTURE = """
            #include <signal.h>
            #include <stdio.h>
            #include <sys/time.h>
            #include <time.h>
            #include <unistd.h>
            static volatile int fired;
            static void on_alarm(int s) { fired++; }
            static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                signal(SIGALRM, on_alarm);
                sigset_t s; sigemptyset(&s); sigaddset(&s, SIGALRM); sigprocmask(SIG_BLOCK, &s, NULL);
                struct itimerval it = {{0, 20000}, {0, 20000}};
                setitimer(ITIMER_REAL, &it, NULL);
                struct timespec ts = {0, 100000000};
                nanosleep(&ts, NULL); /* it expires meanwhile: SIGALRM pending, the timer not armed again */
                getitimer(ITIMER_REAL, &it);
                printf("blocked, %ld us left\\n", (long) it.it_value.tv_usec);
                while (access("go", F_OK) != 0) { ts.tv_nsec = 10000000; nanosleep(&ts, NULL); }
                sigprocmask(SIG_UNBLOCK, &s, NULL);
                double end = now() + 0.3;
                while (now() < end) ;
                printf("fired %d\\n", fired);
                for (;;) pause();
            }
            """;

    @Test
    void anExpiredIntervalTimerWithItsSignalPendingGoesOnFiring() throws Exception {
        Path exe = CProgram.compile(tmp, "itimer-pending", FIXTURE);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            assertTrue(t.lines().get(0).equals("blocked, 0 us left"), t.lines().get(0));
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
            Checkpoint.restore(tmp.resolve("img"));
            Files.createFile(tmp.resolve("go"));
            t.awaitLines(2);
            String last = t.lines().get(1);
            int fired = Integer.parseInt(last.substring("fired ".length()));
            // 300 ms of a 20 ms timer: about 15; the pending one alone would be 1
            assertTrue(fired >= 5, last);
        }
    }
}
