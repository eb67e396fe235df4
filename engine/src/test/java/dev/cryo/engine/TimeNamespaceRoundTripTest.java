package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A process in a time namespace of its own (as {@code unshare --time} or CRIU's restore leave one), or in Cryo's, comes
 * back in a new one whose clocks go on from where they were: CLOCK_MONOTONIC neither jumps back by the namespace's
 * offset nor forward, and an absolute timerfd on it fires when its own clock says, not at once.
 */
@RootWithPtrace
class TimeNamespaceRoundTripTest {
    @TempDir
    Path tmp;

    /** The parent makes the namespace (a day ahead), its child lives in it: the child is dumped, alone. */
    private static final String FIXTURE = """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <poll.h>
            #include <sched.h>
            #include <signal.h>
            #include <stdio.h>
            #include <stdint.h>
            #include <string.h>
            #include <sys/timerfd.h>
            #include <sys/wait.h>
            #include <time.h>
            #include <unistd.h>
            static double mono(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                if (argc > 1 && strcmp(argv[1], "nested") == 0) {
                    if (unshare(CLONE_NEWTIME)) { printf("no timens\\n"); for (;;) pause(); }
                    /* a task whose children would enter a namespace it is not in itself */
                    printf("%d unshared\\n", getpid());
                    for (;;) pause();
                }
                int plain = argc > 1 && strcmp(argv[1], "plain") == 0; /* in the namespace it was started in */
                if (!plain && unshare(CLONE_NEWTIME)) { printf("no timens\\n"); for (;;) pause(); }
                int fd = plain ? -2 : open("/proc/self/timens_offsets", O_WRONLY);
                const char *off = "monotonic 86400 0\\nboottime 86400 0\\n";
                if (!plain && (fd < 0 || write(fd, off, strlen(off)) < 0)) { printf("no offsets\\n"); for (;;) pause(); }
                if (!plain) {
                    close(fd);
                    signal(SIGCHLD, SIG_IGN); /* the dumped child, killed, leaves no zombie on its pid */
                    if (fork() > 0) { for (;;) pause(); }
                }
                int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
                double t0 = mono();
                struct itimerspec it = {{0, 0}, {(time_t) t0 + 6, 0}};
                timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL);
                printf("%d %.3f armed\\n", getpid(), t0);
                volatile double last = t0;
                while (access("go", F_OK) != 0) {
                    last = mono();
                    struct timespec ts = {0, 1000000};
                    nanosleep(&ts, NULL);
                }
                double now = mono();
                struct pollfd p = {tfd, POLLIN, 0};
                int r = poll(&p, 1, 20000);
                double fired = mono();
                printf("back %.3f after %.3f, gap %.3f, timer %s at %.3f (due %.3f)\\n", now, last, now - last,
                       r == 1 ? "fired" : "silent", fired, (double) ((time_t) t0 + 6));
                for (;;) pause();
            }
            """;

    @Test
    void itsClocksGoOnFromTheImagesAndAnAbsoluteTimerFiresOnTime() throws Exception {
        Path exe = CProgram.compile(tmp, "timens", FIXTURE);
        try (Target parent = Target.start(exe, tmp.resolve("out.txt"))) {
            parent.awaitLines(1);
            String first = parent.lines().get(0);
            Assumptions.assumeFalse(first.startsWith("no "), "this kernel has no time namespaces: " + first);
            int child = Integer.parseInt(first.split(" ")[0]);
            double t0 = Double.parseDouble(first.split(" ")[1]);
            assertTrue(t0 > 86400, "the fixture's clock is a day ahead: " + first);
            Target t = Target.adopt(child, parent.out());
            Checkpoint.dump(child, tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
            assertTrue(Files.readString(tmp.resolve("img/dump.log")).contains("time namespace of its own"));
            // its clocks under the namespace's id, as CRIU names the file (its restore reads timens-ID.img)
            int nsId = dev.cryo.image.ImageDir.open(tmp.resolve("img")).ids(child).getTimeNsId();
            assertTrue(Files.exists(tmp.resolve("img/timens-" + nsId + ".img")), "timens-" + nsId + ".img");
            Checkpoint.restore(tmp.resolve("img"));
            try {
                assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/time")),
                        Files.readSymbolicLink(Path.of("/proc/" + child + "/ns/time")), "a time namespace of its own");
                Files.createFile(tmp.resolve("go"));
                parent.awaitLines(2);
                String back = parent.lines().get(1);
                String[] f = back.split(" ");
                double now = Double.parseDouble(f[1]), gap = Double.parseDouble(f[5].replace(",", ""));
                double fired = Double.parseDouble(f[9]);
                assertTrue(gap >= 0 && gap < 10, "CLOCK_MONOTONIC goes on (no jump back by the offset, none ahead by "
                        + "the time the images waited): " + back);
                assertTrue(now > 86400, back);
                assertTrue(back.contains("timer fired") && fired >= Math.floor(t0) + 6 - 0.01, "the absolute timer fires on the "
                        + "namespace's own clock, not at once: " + back);
            } finally {
                Target.adopt(child, parent.out()).close();
            }
        }
    }

    /**
     * A tree that shared Cryo's time namespace comes back in one of its own too, as CRIU's restore makes one: its
     * clocks go on from the image's (the offset is the time the images waited, negative), so on another machine
     * they would not jump either.
     */
    @Test
    void aTreeInCryosNamespaceComesBackInANewOneWhoseClocksGoOnFromTheImages() throws Exception {
        Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/ns/time")), "this kernel has no time namespaces");
        Path exe = CProgram.compile(tmp, "timens", FIXTURE);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), "plain")) {
            t.awaitLines(1);
            double t0 = Double.parseDouble(t.lines().get(0).split(" ")[1]);
            assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/time")),
                    Files.readSymbolicLink(Path.of("/proc/" + t.pid() + "/ns/time")), "started in Cryo's namespace");
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
            long dumped = System.nanoTime();
            Checkpoint.restore(tmp.resolve("img"));
            double waited = (System.nanoTime() - dumped) / 1e9;
            assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/time")),
                    Files.readSymbolicLink(Path.of("/proc/" + t.pid() + "/ns/time")), "a time namespace of its own");
            String offsets = Files.readString(Path.of("/proc/" + t.pid() + "/timens_offsets"));
            String[] mono = offsets.lines().filter(l -> l.startsWith("monotonic")).findFirst().orElseThrow().trim()
                    .split("\\s+");
            double offset = Long.parseLong(mono[1]) + Long.parseLong(mono[2]) / 1e9;
            assertTrue(offset <= 0 && offset >= -(waited + 5), "the offset is minus the time the images waited ("
                    + waited + " s): " + offsets);
            Files.createFile(tmp.resolve("go"));
            t.awaitLines(2);
            String back = t.lines().get(1);
            String[] f = back.split(" ");
            double gap = Double.parseDouble(f[5].replace(",", "")), fired = Double.parseDouble(f[9]);
            assertTrue(gap >= 0 && gap < 10, "CLOCK_MONOTONIC goes on: " + back);
            assertTrue(back.contains("timer fired") && fired >= Math.floor(t0) + 6 - 0.01, back);
        }
    }

    @Test
    void aTaskWhoseChildrenWouldEnterAnotherNamespaceIsRefusedAndLeftRunning() throws Exception {
        Path exe = CProgram.compile(tmp, "timens", FIXTURE);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), "nested")) {
            t.awaitLines(1);
            Assumptions.assumeFalse(t.lines().get(0).startsWith("no "), "no time namespaces: " + t.lines());
            String m = assertThrows(CryoException.class, () -> Checkpoint.dump(t.pid(), tmp.resolve("img"), false))
                    .getMessage();
            assertTrue(m.contains("pid " + t.pid()) && m.contains("unshared a time namespace"), m);
            assertTrue(t.alive());
            assertEquals(List.of(t.pid() + " unshared"), t.lines());
        }
    }
}
