package dev.cryo.engine.dump;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A program that opens and closes files all the time (a /proc file read in a loop, as monitoring code does): the
 * checks Cryo makes before the freeze, while it still runs, meet fds that are gone or reused a moment later. Such an
 * fd is left to the frozen dump, which checks whatever is there then; no dump fails on it
 * ("fd N (...): stat failed" was seen once in the suite, from a fixture reading its own fdinfo).
 */
@RootWithPtrace
class TransientFdsTest {
    private static final String CHURN = """
            #include <fcntl.h>
            #include <stdio.h>
            #include <unistd.h>
            int main(void) {
                setvbuf(stdout, NULL, _IOLBF, 0);
                char buf[256];
                for (unsigned long i = 0;; i++) {
                    int fd = open("/proc/self/stat", O_RDONLY);
                    int d = open("/proc/self", O_RDONLY | O_DIRECTORY);
                    if (fd < 0 || d < 0 || read(fd, buf, sizeof buf) <= 0) { perror("churn"); return 1; }
                    close(d);
                    close(fd);
                    if (i % 20000 == 0) printf("%lu\\n", i / 20000);
                }
            }
            """;

    @Test
    void fdsOpenedAndClosedWhileCryoChecksThemNeverFailTheDump() throws Exception {
        Path exe = CProgram.compile(tmp, "churn", CHURN);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(2);
            for (int i = 0; i < 30; i++) {
                Checkpoint.dump(t.pid(), tmp.resolve("img" + i), true);
                assertTrue(t.alive(), "pid " + t.pid() + " runs on after dump " + i);
            }
            int n = t.lines().size();
            t.awaitLines(n + 2);
        }
    }

    @TempDir
    Path tmp;
}
