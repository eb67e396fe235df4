package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The restored task ends with exactly the image's dispositions, whatever the restorer's own processes ignore. */
@RootWithPtrace
class SignalDispositionsRoundTripTest {
    /** Sets every signal to SIG_DFL with the raw syscall (glibc refuses 32 and 33), then ignores two and catches one. */
    static final String DISPOSITIONS = """
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            #include <sys/syscall.h>
            struct ksigaction { void *handler; unsigned long flags; void *restorer; unsigned long mask; };
            static void on_usr2(int s) { (void) s; }
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                struct ksigaction dfl;
                memset(&dfl, 0, sizeof dfl);
                for (int s = 1; s <= 64; s++) {
                    if (s != SIGKILL && s != SIGSTOP) {
                        syscall(SYS_rt_sigaction, s, &dfl, NULL, 8);
                    }
                }
                signal(SIGUSR1, SIG_IGN);
                signal(40, SIG_IGN);
                signal(SIGUSR2, on_usr2);
                for (int i = 0;; i++) {
                    printf("%d\\n", i);
                    usleep(50000);
                }
            }
            """;

    @TempDir
    Path tmp;

    @Test
    void defaultDispositionsStayDefaultAfterRestore() throws Exception {
        Path exe = CProgram.compile(tmp, "dispositions", DISPOSITIONS);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(2);
            List<String> before = signalState(t.pid());
            assertTrue(before.contains("SigIgn:\t0000008000000200"), "the program set its dispositions: " + before);
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertEquals(before, signalState(t.pid()), "ignored, caught and blocked sets of restored pid " + t.pid());
            t.awaitLines(t.lines().size() + 2);
        }
    }

    private static List<String> signalState(int pid) throws IOException {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                .filter(l -> l.startsWith("SigIgn:") || l.startsWith("SigCgt:") || l.startsWith("SigBlk:")).toList();
    }
}
