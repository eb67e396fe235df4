package dev.cryo.engine;

import dev.cryo.engine.sys.Syscall;
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
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each thread's nice value, scheduling policy (with SCHED_RESET_ON_FORK) and real-time priority come back: before,
 * every thread came back at nice 0 under SCHED_OTHER (a `nice -n 10` worker as busy as the rest, a SCHED_FIFO
 * thread no longer real-time).
 */
@RootWithPtrace
class SchedulingRoundTripTest {
    @TempDir
    Path tmp;

    private static final String FIXTURE = """
            #define _GNU_SOURCE
            #include <pthread.h>
            #include <sched.h>
            #include <stdio.h>
            #include <sys/resource.h>
            #include <sys/syscall.h>
            #include <unistd.h>
            static void *worker(void *arg) {
                long kind = (long) arg;
                pid_t tid = syscall(SYS_gettid);
                struct sched_param p = {0};
                if (kind == 1) { p.sched_priority = 7; sched_setscheduler(tid, SCHED_FIFO, &p); }
                if (kind == 2) { sched_setscheduler(tid, SCHED_BATCH, &p); setpriority(PRIO_PROCESS, tid, 12); }
                if (kind == 3) { sched_setscheduler(tid, SCHED_IDLE, &p); }
                if (kind == 4) { p.sched_priority = 3; sched_setscheduler(tid, SCHED_RR | SCHED_RESET_ON_FORK, &p); }
                for (;;) pause();
            }
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                setpriority(PRIO_PROCESS, syscall(SYS_gettid), 5);
                pthread_t t;
                for (long k = 1; k <= 4; k++) pthread_create(&t, NULL, worker, (void *) k);
                sleep(1);
                printf("ready\\n");
                for (;;) pause();
            }
            """;

    @Test
    void everyThreadKeepsItsNiceValueAndPolicy() throws Exception {
        Path exe = CProgram.compile(tmp, "sched-threads", FIXTURE, "-pthread");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            Map<Integer, String> before = scheduling(t.pid());
            assertEquals(5, before.size(), before.toString());
            assertEquals(5, before.values().stream().distinct().count(), "five different settings: " + before);
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertEquals(before, scheduling(t.pid()));
        }
    }

    private static final String TREE = """
            #include <pthread.h>
            #include <stdio.h>
            #include <unistd.h>
            static void *idle(void *arg) { for (;;) pause(); }
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                pthread_t t;
                pthread_create(&t, NULL, idle, NULL);
                if (fork() == 0) { pthread_create(&t, NULL, idle, NULL); for (;;) pause(); }
                sleep(1);
                printf("ready\\n");
                for (;;) pause();
            }
            """;

    /**
     * The restore drives its tasks from one CPU, pinned there while they are built (a remote call's round trip
     * then needs no other CPU woken); each thread of the tree gets the restorer's own CPUs back before it runs.
     */
    @Test
    void everyThreadRunsOnTheCpusItWouldHaveHadUnpinned() throws Exception {
        String mine = cpusAllowed(Path.of("/proc/thread-self"));
        org.junit.jupiter.api.Assumptions.assumeTrue(mine.contains("-") || mine.contains(","),
                "needs two CPUs allowed to this thread (it has " + mine + "): with one, a restore pins nothing");
        Path exe = CProgram.compile(tmp, "tree-threads", TREE, "-pthread");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            int child = Integer.parseInt(Files.readString(Path.of("/proc/" + t.pid() + "/task/" + t.pid() + "/children")).trim());
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertTrue(Files.readString(tmp.resolve("img").resolve("restore.log")).contains("restoring on CPU "),
                    "the restore pinned itself");
            for (int pid : new int[]{t.pid(), child}) {
                try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/task"))) {
                    List<Path> tasks = s.toList();
                    assertEquals(2, tasks.size(), "pid " + pid + " has its two threads back");
                    for (Path task : tasks) {
                        assertEquals(mine, cpusAllowed(task), task.toString());
                    }
                }
            }
            Syscall.raw(Syscall.KILL, child, 9);
        }
    }

    private static String cpusAllowed(Path task) throws IOException {
        return Files.readAllLines(task.resolve("status")).stream().filter(l -> l.startsWith("Cpus_allowed_list:"))
                .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElseThrow();
    }

    /** Per thread: nice, rt_priority and policy, fields 19, 40 and 41 of its stat. */
    private static Map<Integer, String> scheduling(int pid) throws IOException {
        Map<Integer, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : s.toList()) {
                String stat = Files.readString(task.resolve("stat"));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                // f[0] is field 3
                out.put(Integer.parseInt(task.getFileName().toString()),
                        "nice " + f[16] + " rt " + f[37] + " policy " + f[38] + " " + resetOnFork(task));
            }
        }
        return out;
    }

    /** Whether sched_getscheduler would show SCHED_RESET_ON_FORK: /proc/TID/sched has no field for it. */
    private static String resetOnFork(Path task) {
        long r = dev.cryo.engine.sys.Syscall.raw(145, Long.parseLong(task.getFileName().toString()));
        return (r & 0x40000000) != 0 ? "reset-on-fork" : "";
    }
}
