package dev.cryo.engine.net;

import dev.cryo.engine.CryoException;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fds of a task's own namespace files (/proc/self/ns/net, uts, ipc, mnt), as a program keeps one to enter the
 * namespace again later: refused before (CRIU's zdtm proc-self). After the restore each still names the namespace
 * the task lives in, and setns through the network one works. One of a namespace the task does not live in is
 * refused by name, the task running on.
 */
@RootWithPtrace
class NamespaceFileRoundTripTest {
    @TempDir
    Path tmp;

    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <sched.h>
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            static const char *types[] = {"net", "uts", "ipc", "mnt"};
            static int same(int fd, const char *type) {
                char a[64] = {0}, b[64] = {0}, p[64];
                snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
                readlink(p, a, sizeof a - 1);
                snprintf(p, sizeof p, "/proc/self/ns/%s", type);
                readlink(p, b, sizeof b - 1);
                return strcmp(a, b) == 0 && a[0];
            }
            int main(int argc, char **argv) {
                int fd[4], other = argc > 1 ? open(argv[1], O_RDONLY) : -1;
                for (int i = 0; i < 4; i++) {
                    char p[64];
                    snprintf(p, sizeof p, "/proc/self/ns/%s", types[i]);
                    fd[i] = open(p, O_RDONLY);
                }
                printf("ready %d\\n", other >= 0); fflush(stdout);
                while (access("go", F_OK) != 0) usleep(20000);
                int ok = 1;
                for (int i = 0; i < 4; i++) ok &= same(fd[i], types[i]);
                printf("%s%s\\n", ok ? "same" : "DIFFERENT", setns(fd[0], CLONE_NEWNET) == 0 ? ", setns" : ""); fflush(stdout);
                return 0;
            }
            """;

    @Test
    void theTasksOwnNamespaceFilesComeBackNamingItsNamespaces() throws Exception {
        try (NetSandbox net = new NetSandbox()) {
            net.run(() -> {
                Path exe = CProgram.compile(tmp, "nsfiles", PROGRAM);
                try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
                    Checkpoint.dumpRestoreGo(t);
                    t.awaitLines(2);
                    assertEquals(List.of("ready 0", "same, setns"), t.lines());
                }
            });
        }
    }

    @Test
    void aNamespaceTheTaskDoesNotLiveInIsRefusedByName() throws Exception {
        try (NetSandbox other = new NetSandbox()) {
            Path exe = CProgram.compile(tmp, "nsfiles", PROGRAM);
            // not /run/netns/NAME, a path (a bind mount) that is opened again as one: the thread's own ns file, which
            // reads as net:[INODE]; the thread stays in the namespace while the program opens it
            java.util.concurrent.CountDownLatch opened = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CompletableFuture<String> nsPath = new java.util.concurrent.CompletableFuture<>();
            Thread holder = new Thread(() -> {
                try {
                    other.run(() -> {
                        nsPath.complete("/proc/self/task/" + Path.of("/proc/thread-self").toRealPath().getFileName()
                                + "/ns/net");
                        opened.await();
                    });
                } catch (Exception x) {
                    nsPath.completeExceptionally(x);
                }
            });
            holder.start();
            String path = nsPath.get().replace("/proc/self/", "/proc/" + ProcessHandle.current().pid() + "/");
            try (Target t = Target.start(exe, tmp.resolve("out.txt"), path)) {
                t.awaitLines(1);
                assertEquals("ready 1", t.lines().get(0));
                CryoException e = assertThrows(CryoException.class,
                        () -> Checkpoint.dump(t.pid(), tmp.resolve("img"), false));
                assertTrue(e.getMessage().contains("pid " + t.pid()) && e.getMessage().contains("fd 3 is the namespace "
                        + "file net:[") && e.getMessage().contains("does not live in"), e.getMessage());
                assertTrue(t.alive(), "the refused task runs on");
            } finally {
                opened.countDown();
                holder.join();
            }
        }
    }
}
