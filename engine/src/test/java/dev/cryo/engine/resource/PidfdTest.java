package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.pidfd_entry;
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
 * A process holds a nonblocking pidfd of its child, a pidfd of itself and one of a child it has reaped; after a
 * dump and a restore (once a file appears) it checks each through the kernel: who it names, its flags, a signal
 * sent through it, the exit it reports. A pidfd of a process outside the tree is refused, the target untouched.
 */
@RootWithPtrace
class PidfdTest {
    @TempDir
    Path tmp;

    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <errno.h>
            #include <fcntl.h>
            #include <poll.h>
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/syscall.h>
            #include <sys/wait.h>
            #include <unistd.h>
            #ifndef P_PIDFD
            #define P_PIDFD 3
            #endif
            static int pidfd_open(pid_t p, int flags) { return syscall(SYS_pidfd_open, p, flags); }
            static int send(int fd, int sig) { return syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0); }
            static int named(int fd) {
                char path[64], line[256]; int pid = -2;
                snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
                FILE *f = fopen(path, "r");
                while (f && fgets(line, sizeof(line), f)) if (sscanf(line, "Pid: %d", &pid) == 1) break;
                if (f) fclose(f);
                return pid;
            }
            static int exited(int fd, int ms) { struct pollfd p = {fd, POLLIN, 0}; return poll(&p, 1, ms) == 1; }
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                char check[4096]; snprintf(check, sizeof(check), "%s/check", argv[1]);
                if (argc > 2) { /* a pidfd of init, outside the tree (its parent, a shell, may be gone already) */
                    printf("fd %d\\n", pidfd_open(1, 0));
                    for (int i = 0;; i++) { printf("%d\\n", i); usleep(10000); }
                }
                pid_t kid = fork();
                if (kid == 0) for (;;) pause();
                int kfd = pidfd_open(kid, O_NONBLOCK), self = pidfd_open(getpid(), 0);
                pid_t gone = fork();
                if (gone == 0) _exit(5);
                int gfd = pidfd_open(gone, 0);
                siginfo_t si;
                waitid(P_PIDFD, gfd, &si, WEXITED);
                for (int i = 0;; i++) {
                    if (access(check, F_OK) == 0) {
                        const char *bad = NULL;
                        memset(&si, 0, sizeof(si));
                        if (named(kfd) != kid || named(self) != getpid() || named(gfd) != -1) bad = "Pid:";
                        else if (!(fcntl(kfd, F_GETFL) & O_NONBLOCK) || (fcntl(self, F_GETFL) & O_NONBLOCK)) bad = "flags";
                        else if (exited(kfd, 0) || exited(self, 0) || !exited(gfd, 0)) bad = "poll";
                        else if (send(self, 0) != 0) bad = "signal to itself";
                        else if (send(gfd, 0) == 0 || errno != ESRCH) bad = "signal to the reaped child";
                        else if (send(kfd, SIGKILL) != 0 || !exited(kfd, 10000)) bad = "SIGKILL to the child";
                        else if (waitid(P_PIDFD, kfd, &si, WEXITED) != 0 || si.si_pid != kid || si.si_status != SIGKILL)
                            bad = "waitid of the child";
                        printf("%s\\n", bad ? bad : "ok");
                        return 0;
                    }
                    printf("%d\\n", i);
                    usleep(10000);
                }
            }
            """;

    @Test
    void pidfdsOfTheTreeNameTheRestoredTasks() throws Exception {
        Path exe = CProgram.compile(tmp, "pidfds", PROGRAM);
        Path dir = Files.createDirectory(tmp.resolve("watched"));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), dir.toString())) {
            t.awaitLines(2);
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());

            List<pidfd_entry> pidfds = ImageDir.open(img).files().stream()
                    .filter(f -> f.getType() == fd_types.PIDFD).map(file_entry::getPidfd).toList();
            assertEquals(3, pidfds.size(), "three pidfds in files.img: " + pidfds);
            assertTrue(pidfds.stream().anyMatch(p -> p.getNspid() == t.pid() && p.getFlags() == 0), "itself");
            assertTrue(pidfds.stream().anyMatch(p -> p.getNspid() == -1), "the reaped child: nspid -1, as CRIU");
            assertTrue(pidfds.stream().anyMatch(p -> p.getNspid() > 0 && p.getNspid() != t.pid()
                    && p.getFlags() == Pidfd.O_NONBLOCK), "the child, O_NONBLOCK");
            DeletedFilesTest.critDecodes(img, "files.img");

            assertEquals(0, Checkpoint.restore(img));
            assertTrue(t.alive(), "restored pid " + t.pid() + " runs");
            t.awaitLines(t.lines().size() + 2);
            Files.createFile(dir.resolve("check"));
            await().atMost(Duration.ofSeconds(20)).until(() -> !t.alive());
            List<String> lines = t.lines();
            assertEquals("ok", lines.get(lines.size() - 1));
        }
    }

    @Test
    void aPidfdOfAProcessOutsideTheTreeIsRefusedAndTheTargetRunsOn() throws Exception {
        Path exe = CProgram.compile(tmp, "outside", PROGRAM);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), tmp.toString(), "outside")) {
            t.awaitLines(2);
            String fd = t.lines().get(0).substring(3);
            CryoException e = assertThrows(CryoException.class,
                    () -> Checkpoint.dump(t.pid(), tmp.resolve("img"), false));
            assertTrue(e.getMessage().contains("fd " + fd + " is a pidfd of pid 1, which is outside the tree"),
                    e.getMessage());
            int seen = t.lines().size();
            t.awaitLines(seen + 2);
            assertTrue(t.alive(), "the target runs on after the refusal");
        }
    }
}
