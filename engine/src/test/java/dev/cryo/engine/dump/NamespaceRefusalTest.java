package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.RootWithPtrace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A root's own network, ipc and uts namespaces are dumped with its tree (OwnNamespacesTest), a cgroup namespace only
 * with a container's pid namespace; every other task must share its root's. A task outside the
 * namespaces it would be restored in (a root outside Cryo's, a child or a single thread outside its root's) used to
 * be dumped as if it were inside them, and came back there: with the host's network instead of its own, another
 * host name, other SysV objects. It is refused before anything is touched, naming the task and the namespace.
 */
@RootWithPtrace
class NamespaceRefusalTest {
    @TempDir
    Path tmp;

    /**
     * {@code argv[1]}: {@code root} unshares a cgroup namespace itself (its own network, ipc and uts namespaces are
     * dumped with it: OwnNamespacesTest); {@code child} forks a child that unshares a
     * uts namespace; {@code thread} starts a thread that unshares an ipc namespace. Prints its pid and the task that
     * left, once it has; the child dies with it.
     */
    private static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <pthread.h>
            #include <sched.h>
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/prctl.h>
            #include <unistd.h>
            static int pipefd[2];
            static void *leave(void *arg) {
                pid_t tid = gettid();
                if (unshare(CLONE_NEWIPC) != 0) tid = -1;
                write(pipefd[1], &tid, sizeof tid);
                for (;;) pause();
            }
            int main(int argc, char **argv) {
                pid_t other = getpid();
                if (pipe(pipefd) != 0) return 1;
                if (!strcmp(argv[1], "root")) {
                    if (unshare(CLONE_NEWCGROUP) != 0) return 2;
                } else if (!strcmp(argv[1], "child")) {
                    pid_t c = fork();
                    if (c == 0) {
                        prctl(PR_SET_PDEATHSIG, SIGKILL);
                        if (unshare(CLONE_NEWUTS) != 0) _exit(3);
                        write(pipefd[1], &c, 1);
                        for (;;) pause();
                    }
                    read(pipefd[0], &other, 1);
                    other = c;
                } else {
                    pthread_t t;
                    pthread_create(&t, NULL, leave, NULL);
                    read(pipefd[0], &other, sizeof other);
                }
                printf("%d %d\\n", getpid(), other);
                fflush(stdout);
                for (;;) pause();
            }
            """;

    private CryoException refusal(String mode) throws Exception {
        Path exe = CProgram.compile(tmp, "leaver", PROGRAM, "-pthread");
        Path images = Files.createDirectory(tmp.resolve("images"));
        try (var target = dev.cryo.engine.testing.Target.start(exe, tmp.resolve(mode + ".out"), mode)) {
            target.awaitLines(1);
            String[] report = target.lines().get(0).split(" ");
            int pid = Integer.parseInt(report[0]), other = Integer.parseInt(report[1]);
            assertTrue(other > 0, "the task left its namespace: " + target.lines());
            DumpOptions options = new DumpOptions(pid, images, false, false, false, false, false, false, null, null,
                    Duration.ofSeconds(10));
            CryoException e = assertThrows(CryoException.class, () -> Dumper.dump(options, Log.discard()));
            assertTrue(e.getMessage().startsWith("cannot dump pid " + pid + ": "), e.getMessage());
            assertTrue(e.getMessage().contains(other == pid ? "pid " + pid : Integer.toString(other)), e.getMessage());
            for (int task : new int[]{pid, other}) {
                String status = Files.readString(Path.of("/proc/" + task + "/status"));
                assertTrue(status.contains("TracerPid:\t0\n"), "nothing traces task " + task + ": " + status);
                assertTrue(status.contains("State:\tS"), "task " + task + " sleeps on as it did: " + status);
            }
            try (var files = Files.list(images)) {
                assertEquals(0, files.filter(f -> f.getFileName().toString().endsWith(".img")).count(),
                        "no image written");
            }
            return e;
        }
    }

    @Test
    void aRootInACgroupNamespaceOtherThanCryosIsRefusedWithTheWayOut() throws Exception {
        String m = refusal("root").getMessage();
        assertTrue(m.contains("lives in a cgroup namespace of its own (cgroup:[") && m.contains("not Cryo's")
                && m.contains("nsenter --cgroup --target"), m);
    }

    @Test
    void aChildInAUtsNamespaceOtherThanItsRootsIsRefused() throws Exception {
        String m = refusal("child").getMessage();
        assertTrue(m.contains("of its tree lives in another uts namespace (uts:[") && m.contains("than its root"), m);
    }

    @Test
    void aThreadInAnIpcNamespaceOtherThanItsProcesssIsRefused() throws Exception {
        String m = refusal("thread").getMessage();
        assertTrue(m.contains("thread ") && m.contains("lives in another ipc namespace (ipc:[")
                && m.contains("than its main thread"), m);
    }
}
