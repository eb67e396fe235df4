package dev.cryo.engine.resource;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A pipe end opened again through /proc/self/fd/N is a second open file description of it, with flags of its own:
 * here the write end made by pipe() is non-blocking, a dup of it shares that, and the one opened again does not.
 * The restore once gave every description of an end the first one's, so O_NONBLOCK showed up on all three (CRIU's
 * zdtm pipe01 found it). The pipe is full (64 KiB) and every byte is read back once all writers close.
 */
@RootWithPtrace
class PipeDescriptionsRoundTripTest {
    @TempDir
    Path tmp;

    static final String PROGRAM = """
            #include <errno.h>
            #include <fcntl.h>
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            static int nb(int fd) { return !!(fcntl(fd, F_GETFL) & O_NONBLOCK); }
            int main(void) {
                int p[2];
                char path[64], buf[4096];
                if (pipe(p)) return 1;
                int dw = dup(p[1]);
                snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
                int rw = open(path, O_WRONLY);
                snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
                int rr = open(path, O_RDONLY | O_NONBLOCK);
                fcntl(p[1], F_SETFL, O_NONBLOCK);
                memset(buf, 'x', sizeof buf);
                int size = 0, n;
                while ((n = write(p[1], buf, sizeof buf)) > 0) size += n;
                printf("full %d, nonblocking %d %d %d %d %d\\n", size, nb(p[0]), nb(p[1]), nb(dw), nb(rw), nb(rr));
                fflush(stdout);
                while (access("go", F_OK) != 0) usleep(20000);
                printf("full %d, nonblocking %d %d %d %d %d\\n", size, nb(p[0]), nb(p[1]), nb(dw), nb(rw), nb(rr));
                close(p[1]); close(dw); close(rw);
                int got = 0;
                while ((n = read(p[0], buf, sizeof buf)) > 0) got += n;
                printf("read %d, then %s\\n", got, n == 0 ? "end of file" : strerror(errno));
                fflush(stdout);
                return 0;
            }
            """;

    @Test
    void eachDescriptionOfAPipeEndKeepsItsOwnFlags() throws Exception {
        Path exe = CProgram.compile(tmp, "pipes", PROGRAM);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            assertEquals("full 65536, nonblocking 0 1 1 0 1", t.lines().get(0));
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            Files.createFile(tmp.resolve("go"));
            t.awaitLines(3);
            assertEquals(List.of("full 65536, nonblocking 0 1 1 0 1", "full 65536, nonblocking 0 1 1 0 1",
                    "read 65536, then end of file"), t.lines());
        }
    }
}
