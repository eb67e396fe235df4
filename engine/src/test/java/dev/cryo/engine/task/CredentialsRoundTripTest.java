package dev.cryo.engine.task;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A process of another user, with its own groups, a smaller bounding set, no_new_privs and a personality flag,
 * dumped and restored by root: it comes back with every one of them, and says so itself each second.
 */
@RootWithPtrace
class CredentialsRoundTripTest {
    /** Prints its counter and its task state each second; the state must never change. */
    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            #include <sys/prctl.h>
            #include <sys/personality.h>
            static void status(const char *key, char *out, size_t n) {
                FILE *f = fopen("/proc/self/status", "r");
                char line[256];
                out[0] = 0;
                while (f && fgets(line, sizeof line, f)) {
                    if (strncmp(line, key, strlen(key)) == 0) {
                        line[strcspn(line, "\\n")] = 0;
                        snprintf(out, n, "%s", line + strlen(key) + 1);
                        for (char *p = out; *p; p++) if (*p == '\\t') *p = ' ';
                    }
                }
                if (f) fclose(f);
            }
            int main(void) {
                for (int i = 0;; i++) {
                    uid_t r, e, s; gid_t gr, ge, gs; gid_t groups[32];
                    getresuid(&r, &e, &s); getresgid(&gr, &ge, &gs);
                    int n = getgroups(32, groups);
                    char caps[5][64], g[128] = "";
                    status("CapInh:", caps[0], 64); status("CapPrm:", caps[1], 64); status("CapEff:", caps[2], 64);
                    status("CapBnd:", caps[3], 64); status("CapAmb:", caps[4], 64);
                    for (int k = 0; k < n; k++) { char b[16]; snprintf(b, sizeof b, "%s%d", k ? "," : "", groups[k]); strcat(g, b); }
                    printf("%d uid=%d,%d,%d gid=%d,%d,%d groups=%s caps=%s/%s/%s/%s/%s nnp=%d pers=%x dumpable=%d\\n",
                           i, r, e, s, gr, ge, gs, g, caps[0], caps[1], caps[2], caps[3], caps[4],
                           prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), personality(0xffffffff),
                           prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
                    fflush(stdout);
                    sleep(1);
                }
            }
            """;

    @TempDir
    Path tmp;

    @Test
    void anotherUsersProcessComesBackWithItsCredentials() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "no setpriv (util-linux) to start a process as nobody");
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path exe = CProgram.compile(tmp, "creds", PROGRAM);
        Files.setPosixFilePermissions(exe, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path img = Files.createDirectory(tmp.resolve("img"));
        try (Target t = Target.start(Path.of("/usr/bin/setpriv"), tmp.resolve("out.txt"), "--reuid=65534",
                "--regid=65534", "--groups=65534,100,4242", "--bounding-set=-net_raw,-sys_module", "--no-new-privs",
                "--", "/usr/bin/setarch", "x86_64", "-R", exe.toString())) {
            t.awaitLines(2);
            String before = state(t.lines().get(1));
            assertTrue(before.startsWith("uid=65534,65534,65534 gid=65534,65534,65534 groups=100,4242,65534"), before);
            assertTrue(before.contains("nnp=1"), before);
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(img));
            assertTrue(t.alive(), "restored pid " + t.pid() + " runs");
            int seen = t.lines().size();
            t.awaitLines(seen + 2);
            List<String> lines = t.lines();
            for (int i = 0; i < lines.size(); i++) {
                assertTrue(lines.get(i).startsWith(i + " "), "no line lost or repeated: " + lines);
                assertEquals(before, state(lines.get(i)), "line " + i + " of " + lines);
            }
            String owner = Files.readString(Path.of("/proc/" + t.pid() + "/status")).lines()
                    .filter(l -> l.startsWith("Uid:")).findFirst().orElseThrow();
            assertTrue(owner.matches("Uid:\\s+65534\\s+65534\\s+65534\\s+65534"), owner);
        }
    }

    /**
     * Every thread of a threaded process of another user comes back as that user, with its capabilities: a thread
     * left with the restorer's root credentials would be a hole.
     */
    @Test
    void everyThreadOfAnotherUsersProcessComesBackAsThatUser() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "no setpriv (util-linux) to start a process as nobody");
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path exe = CProgram.compile(tmp, "threads", """
                #include <pthread.h>
                #include <stdio.h>
                #include <unistd.h>
                static void *idle(void *a) { for (;;) pause(); return a; }
                int main(void) {
                    pthread_t t[2];
                    for (int i = 0; i < 2; i++) pthread_create(&t[i], 0, idle, 0);
                    setvbuf(stdout, 0, _IONBF, 0);
                    for (int i = 0;; i++) { printf("%d\\n", i); usleep(100000); }
                }
                """, "-pthread");
        Files.setPosixFilePermissions(exe, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path img = Files.createDirectory(tmp.resolve("img"));
        try (Target t = Target.start(Path.of("/usr/bin/setpriv"), tmp.resolve("out.txt"), "--reuid=65534",
                "--regid=65534", "--clear-groups", "--", exe.toString())) {
            t.awaitLines(2);
            Checkpoint.dumpUntilGone(t, 2, img);
            assertEquals(0, Checkpoint.restore(img));
            t.awaitLines(t.lines().size() + 2);
            List<Path> threads;
            try (var s = Files.list(Path.of("/proc/" + t.pid() + "/task"))) {
                threads = s.toList();
            }
            assertEquals(3, threads.size(), threads.toString());
            for (Path p : threads) {
                List<String> status = Files.readAllLines(p.resolve("status"));
                assertTrue(status.contains("Uid:\t65534\t65534\t65534\t65534"), p + ": " + status);
                assertTrue(status.contains("Gid:\t65534\t65534\t65534\t65534"), p + ": " + status);
                assertTrue(status.contains("CapEff:\t0000000000000000"), p + ": " + status);
            }
        }
    }

    private static String state(String line) {
        return line.substring(line.indexOf(' ') + 1);
    }
}
