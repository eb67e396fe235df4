package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A poll without a timeout (what {@code tail -f} waits in) goes on waiting after the restore: the kernel resumes a
 * stopped poll through its restart block, which a restored task does not have, so the restore calls it again; a
 * poll that was stopped before the dump (SIGSTOP and SIGCONT, as a pre-dump or a dump with -R also do) sits in
 * restart_syscall, and is resumed as the poll it is (told by the {@code mov $7, %eax} before its syscall instruction). Before, both returned EINTR, and tail -f exited with
 * "error waiting for inotify and output events: Interrupted system call".
 */
@RootWithPtrace
class PollRestartTest {
    @TempDir
    Path tmp;

    private static final String FIXTURE = """
            #include <fcntl.h>
            #include <poll.h>
            #include <stdio.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                struct pollfd p = {.fd = open(argv[1], O_RDWR), .events = POLLIN};
                printf("ready\\n");
                for (;;) {
                    int r = poll(&p, 1, -1);
                    if (r < 0) { perror("poll"); return 1; }
                    char c;
                    if (read(p.fd, &c, 1) == 1) printf("got %c\\n", c);
                }
            }
            """;

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aPollWithoutTimeoutGoesOnWaiting(boolean stoppedBefore) throws Exception {
        Path exe = CProgram.compile(tmp, "poll-wait", FIXTURE);
        Path fifo = tmp.resolve("fifo");
        new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor();
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), fifo.toString())) {
            t.awaitLines(1);
            await().atMost(Duration.ofSeconds(10)).until(() -> syscall(t.pid()).startsWith("7 "));
            if (stoppedBefore) {
                ProcessStateRoundTripTest.kill("-STOP", t.pid());
                await().atMost(Duration.ofSeconds(10)).until(() -> state(t.pid()).startsWith("T"));
                ProcessStateRoundTripTest.kill("-CONT", t.pid());
                await().atMost(Duration.ofSeconds(10)).until(() -> syscall(t.pid()).startsWith("219 "));
            }
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            await().atMost(Duration.ofSeconds(10)).until(() -> syscall(t.pid()).startsWith("7 "));
            Files.writeString(fifo, "x");
            t.awaitLines(2);
            assertEquals("got x", t.lines().get(1), String.join("\n", t.lines()));
        }
    }

    private static String syscall(int pid) throws Exception {
        return Files.readString(Path.of("/proc/" + pid + "/syscall"));
    }

    private static String state(int pid) throws Exception {
        String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
        return s.substring(s.lastIndexOf(')') + 2);
    }
}
