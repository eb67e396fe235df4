package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Reaper;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tree dumped and restored by Cryo, twice: a parent and its child joined by a pipe (numbers in flight), by
 * shared anonymous memory (a counter both increment under a lock-free add) and by stdout (one description).
 * The parent prints what it reads from the pipe and the shared counter; after each restore the numbers go on
 * with no gap, the child keeps its pid and parent, and the counter keeps counting the child's adds.
 */
@RootWithPtrace
class TreeRoundTripTest {
    static final String PROGRAM = """
            #include <stdio.h>
            #include <stdlib.h>
            #include <unistd.h>
            #include <sys/mman.h>
            int main(void) {
                int p[2];
                long *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                setvbuf(stdout, NULL, _IONBF, 0);
                if (pipe(p) < 0 || shared == MAP_FAILED) return 1;
                pid_t kid = fork();
                if (kid == 0) {
                    close(p[0]);
                    for (int i = 0;; i++) {
                        __atomic_add_fetch(shared, 1, __ATOMIC_SEQ_CST);
                        if (write(p[1], &i, sizeof(i)) != sizeof(i)) _exit(2);
                        usleep(10000);
                    }
                }
                close(p[1]);
                for (;;) {
                    int i;
                    if (read(p[0], &i, sizeof(i)) != sizeof(i)) return 3;
                    long seen = __atomic_load_n(shared, __ATOMIC_SEQ_CST);
                    printf("%d %d %d %ld\\n", i, getpid(), kid, seen);
                }
            }
            """;

    @TempDir
    Path tmp;

    @Test
    void parentAndChildGoOnWithTheirPipeSharedMemoryAndPids() throws Exception {
        Path exe = CProgram.compile(tmp, "pair", PROGRAM);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(5);
            int child = Integer.parseInt(t.lines().get(0).split(" ")[2]);
            for (int cycle = 1; cycle <= 2; cycle++) {
                Path img = tmp.resolve("img-" + cycle);
                Checkpoint.dump(t.pid(), img, false);
                await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                Reaper.reap(t.pid()); // once restored, the parent is this JVM's child: its pid is free once reaped
                await().atMost(Duration.ofSeconds(10)).until(() -> !Files.exists(Path.of("/proc/" + t.pid()))
                        && !Files.exists(Path.of("/proc/" + child)));
                int before = t.lines().size();
                assertEquals(0, Checkpoint.restore(img));
                Target r = Target.adopt(t.pid(), t.out());
                assertTrue(r.alive(), "cycle " + cycle + ": the parent runs again");
                String stat = Files.readString(Path.of("/proc/" + child + "/stat"));
                assertEquals(Integer.toString(t.pid()), stat.substring(stat.lastIndexOf(')') + 2).split(" ")[1],
                        "cycle " + cycle + ": child " + child + " has its parent again");
                r.awaitLines(before + 10);
                List<String> lines = r.lines();
                for (int i = 0; i < lines.size(); i++) {
                    String[] f = lines.get(i).split(" ");
                    assertEquals(Integer.toString(i), f[0], "cycle " + cycle + ": line " + i + " of " + lines);
                    assertEquals(Integer.toString(t.pid()) + " " + child, f[1] + " " + f[2], "pids kept");
                    assertTrue(Long.parseLong(f[3]) >= i + 1, "the shared counter holds every add: " + lines.get(i));
                }
            }
            // the child too is ours to clean up
            dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.KILL, child, 9);
        }
    }
}
