package dev.cryo.engine;

import dev.cryo.engine.restore.RestoreOptions;
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
 * A task that forks children and then calls setsid leaves them in the session it left (CRIU's zdtm session00, which
 * CRIU 4.2 cannot restore: "Can't fork: File exists"): a forks b, b forks c, then b and a each call setsid. After
 * the restore a and b lead their sessions and c is still in the root's, whether the root leads its own session or
 * lives in the restorer's.
 */
@RootWithPtrace
class SessionsBeforeSetsidTest {
    static final String PROGRAM = """
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            static int up[2];
            static void waitgo(void) { while (access("go", F_OK) != 0) usleep(20000); }
            static void report(char ok) { write(up[1], &ok, 1); _exit(0); }
            int main(int argc, char **argv) {
                if (argc > 1 && strcmp(argv[1], "lead") == 0) setsid();
                pid_t sid = getsid(0);
                if (pipe(up) < 0) return 1;
                pid_t a = fork();
                if (a == 0) {
                    pid_t b = fork();
                    if (b == 0) {
                        pid_t c = fork();
                        if (c == 0) {
                            write(up[1], "c", 1);
                            waitgo();
                            report(getsid(0) == sid ? 'C' : 'x');
                        }
                        setsid();
                        write(up[1], "b", 1);
                        waitgo();
                        report(getsid(0) == getpid() && getsid(c) == sid ? 'B' : 'x');
                    }
                    setsid();
                    write(up[1], "a", 1);
                    waitgo();
                    report(getsid(0) == getpid() && getsid(b) != getpid() ? 'A' : 'x');
                }
                char got[4] = {0};
                for (int i = 0; i < 3; i++) if (read(up[0], &got[i], 1) != 1) return 2;
                printf("ready\\n"); fflush(stdout);
                waitgo();
                char v[4] = {0};
                for (int i = 0; i < 3; i++) if (read(up[0], &v[i], 1) != 1) return 3;
                for (int i = 0; i < 3; i++) for (int j = i + 1; j < 3; j++) if (v[j] < v[i]) { char t = v[i]; v[i] = v[j]; v[j] = t; }
                printf("%s, root %s\\n", v, getsid(0) == sid ? "in its session" : "MOVED"); fflush(stdout);
                return 0;
            }
            """;

    @TempDir
    Path tmp;

    @Test
    void childrenForkedBeforeSetsidStayInTheRootsSession() throws Exception {
        roundTrip("lead");
    }

    @Test
    void childrenForkedBeforeSetsidStayInTheRestorersSession() throws Exception {
        roundTrip("stay");
    }

    private void roundTrip(String mode) throws Exception {
        Path exe = CProgram.compile(tmp, "sessions", PROGRAM);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), mode)) {
            Checkpoint.dumpUntilGone(t, 1, tmp.resolve("img"));
            // not a shell job: a root that led its session leads it again
            assertEquals(0, Checkpoint.restore(new RestoreOptions(tmp.resolve("img"), true, false, true, null, null)));
            Files.createFile(tmp.resolve("go"));
            t.awaitLines(2);
            assertEquals(List.of("ready", "ABC, root in its session"), t.lines());
        }
    }
}
