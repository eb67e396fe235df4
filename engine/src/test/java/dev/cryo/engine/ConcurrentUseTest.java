package dev.cryo.engine;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static dev.cryo.engine.CounterRoundTripTest.assertCounts;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A target somebody else traces (a debugger, strace, another dump) is refused naming that tracer. */
@org.junit.jupiter.api.extension.ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
class ConcurrentUseTest {
    /** A stand-in for gdb or strace: seizes the pid it is given and holds it. */
    static final String TRACER = """
            #include <stdio.h>
            #include <stdlib.h>
            #include <unistd.h>
            #include <sys/ptrace.h>
            int main(int argc, char **argv) {
                if (ptrace(PTRACE_SEIZE, atoi(argv[1]), 0, 0) != 0) { perror("PTRACE_SEIZE"); return 1; }
                printf("seized\\n"); fflush(stdout);
                for (;;) pause();
            }
            """;

    @TempDir
    Path tmp;

    private Target counter() throws Exception {
        Target t = Target.start(CProgram.compile(tmp, "counter", CProgram.counter(5_000)), tmp.resolve("out.txt"));
        t.awaitLines(3);
        return t;
    }

    @Test
    void aTracedTargetIsRefusedNamingItsTracer() throws Exception {
        try (Target t = counter()) {
            Path tracerExe = CProgram.compile(tmp, "tracer", TRACER);
            try (Target tracer = Target.start(tracerExe, tmp.resolve("tracer.txt"), Integer.toString(t.pid()))) {
                tracer.awaitLines(1);
                String m = assertThrows(CryoException.class, () -> Checkpoint.dump(t.pid(), tmp.resolve("img"), true))
                        .getMessage();
                assertTrue(m.contains("pid " + t.pid()) && m.contains("traced by pid " + tracer.pid() + " (tracer)"), m);
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> Files.readString(Path.of("/proc/" + t.pid() + "/status"))
                    .contains("TracerPid:\t0"));
            t.awaitLines(t.lines().size() + 3);
            assertCounts(t.lines());
            Checkpoint.dump(t.pid(), tmp.resolve("img2"), true); // once the tracer is gone
            t.awaitLines(t.lines().size() + 3);
            assertCounts(t.lines());
        }
    }

    @Test
    void twoDumpsOfOnePidAtOnceOneWorksTheOtherNamesIt() throws Exception {
        try (Target t = counter()) {
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                for (int round = 0; round < 3; round++) {
                    List<Future<String>> runs = new ArrayList<>();
                    for (int i = 0; i < 2; i++) {
                        Path img = tmp.resolve("img-" + round + "-" + i);
                        runs.add(pool.submit(() -> {
                            try {
                                Checkpoint.dump(t.pid(), img, true);
                                return "ok";
                            } catch (CryoException e) {
                                return e.getMessage();
                            }
                        }));
                    }
                    int ok = 0;
                    for (Future<String> r : runs) {
                        String m = r.get();
                        if (m.equals("ok")) {
                            ok++;
                        } else {
                            assertTrue(m.contains("traced by pid " + ProcessHandle.current().pid())
                                    && m.contains("another dump"), m);
                        }
                    }
                    assertTrue(ok >= 1, "one of the two dumps works");
                    t.awaitLines(t.lines().size() + 3);
                    assertCounts(t.lines());
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
