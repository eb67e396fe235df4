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
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A fanotify group with an inode mark (a directory, its children's events), an ignored mask on one child, and a
 * mount mark (the tmpfs of /dev/shm): after the restore the group has the same flags and marks, and reports writes
 * under the directory and on the mount, but not on the ignored child.
 */
@RootWithPtrace
class FanotifyRoundTripTest {
    @TempDir
    Path tmp;

    @Test
    void marksComeBackAndReportEvents() throws Exception {
        Path exe = CProgram.compile(tmp, "fan", PROGRAM);
        Path dir = Files.createDirectories(tmp.resolve("watched"));
        Files.writeString(dir.resolve("ignored"), "x");
        Path shm = Path.of("/dev/shm/cryo-fanotify-" + ProcessHandle.current().pid());
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), dir.toString())) {
            t.awaitLines(1);
            assertEquals("ready", t.lines().get(0));
            String before = fdinfo(t.pid());
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertEquals(before.lines().sorted().toList(), fdinfo(t.pid()).lines().sorted().toList(),
                    "the group's flags and marks");
            Files.writeString(dir.resolve("ignored"), "y");
            Files.writeString(dir.resolve("seen"), "z");
            Files.writeString(shm, "on the mount");
            try {
                await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().stream().anyMatch(l -> l.endsWith(shm.toString()))
                        && t.lines().stream().anyMatch(l -> l.endsWith("/seen")));
            } finally {
                Files.deleteIfExists(shm);
            }
            assertFalse(t.lines().stream().anyMatch(l -> l.endsWith("/ignored")), "the ignored mask holds: " + t.lines());
            assertTrue(t.lines().stream().noneMatch(l -> l.startsWith("FAIL")), t.lines().toString());
        }
    }

    /** The fanotify lines of fd 3's fdinfo. */
    private static String fdinfo(int pid) throws Exception {
        return String.join("\n", Files.readAllLines(Path.of("/proc/" + pid + "/fdinfo/3")).stream()
                .filter(l -> l.startsWith("fanotify")).toList());
    }

    /**
     * Args: DIR. fd 3: a fanotify group (notification class, non-blocking) marking DIR for writes closed by its
     * children, DIR/ignored with that event in its ignored mask, and the mount of /dev/shm for writes closed. Prints
     * "event PATH" for each event.
     */
    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/fanotify.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                char ignored[4096];
                snprintf(ignored, sizeof ignored, "%s/ignored", argv[1]);
                int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE);
                if (fd != 3 || fanotify_mark(fd, FAN_MARK_ADD, FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD, AT_FDCWD, argv[1])
                        || fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY,
                                         FAN_CLOSE_WRITE, AT_FDCWD, ignored)
                        || fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_CLOSE_WRITE, AT_FDCWD, "/dev/shm")) {
                    printf("FAIL setup\\n"); return 1;
                }
                printf("ready\\n"); fflush(stdout);
                char buf[8192];
                for (;;) {
                    int n = read(fd, buf, sizeof buf);
                    if (n > 0) {
                        struct fanotify_event_metadata *m = (void *)buf;
                        for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
                            if (m->fd < 0) continue;
                            char link[64], path[4096];
                            snprintf(link, sizeof link, "/proc/self/fd/%d", m->fd);
                            int k = readlink(link, path, sizeof path - 1);
                            path[k > 0 ? k : 0] = 0;
                            printf("event %s\\n", path);
                            close(m->fd);
                        }
                        fflush(stdout);
                    }
                    usleep(20000);
                }
            }
            """;
}
