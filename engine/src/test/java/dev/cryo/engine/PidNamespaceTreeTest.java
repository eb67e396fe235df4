package dev.cryo.engine;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Reaper;
import dev.cryo.engine.testing.RootWithPtrace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A tree whose root is pid 1 of a pid namespace of its own, started as {@code unshare --pid --fork} starts one: the
 * root's session and group are its starter's, outside the namespace (0 from inside), and so are its child's. Dumped
 * from its init and restored, both come back counting, the child still in the root's group, which no task made and
 * none joins (a group outside its namespace is one a task there cannot even name).
 */
@RootWithPtrace
class PidNamespaceTreeTest {
    private static final String PROGRAM = """
            #include <stdio.h>
            #include <unistd.h>
            int main(void) {
                setvbuf(stdout, NULL, _IOLBF, 0);
                pid_t kid = fork();
                for (unsigned long i = 0;; i++) {
                    printf("%s %d pgid %d tick %lu\\n", kid ? "root" : "child", getpid(), getpgid(0), i);
                    usleep(20000);
                }
            }
            """;

    @TempDir
    Path tmp;

    @Test
    void aChildInTheRootsGroupOutsideTheNamespaceStaysInIt() throws Exception {
        Path exe = CProgram.compile(tmp, "nstree", PROGRAM);
        Path out = tmp.resolve("out.txt");
        Process unshare;
        try {
            unshare = new ProcessBuilder("unshare", "--pid", "--fork", exe.toString()).redirectOutput(out.toFile())
                    .redirectErrorStream(true).start();
        } catch (java.io.IOException e) {
            System.out.println("SKIPPED: unshare (util-linux) is not installed");
            assumeTrue(false, "unshare (util-linux) is not installed");
            throw e;
        }
        int restored = 0;
        try {
            Path children = Path.of("/proc", Long.toString(unshare.pid()), "task", Long.toString(unshare.pid()),
                    "children");
            await().atMost(Duration.ofSeconds(20)).until(() -> !Files.readString(children).isBlank());
            int pid = Integer.parseInt(Files.readString(children).strip().split("\\s+")[0]);
            await().atMost(Duration.ofSeconds(20)).until(() -> Files.readString(out).contains("child 2 pgid 0 tick 3"));
            DumpOptions options = new DumpOptions(pid, tmp, false, false, false, false, false, false, null, null,
                    Duration.ofSeconds(10));
            try (Log log = Log.toFile(tmp.resolve("dump.log"), 4)) {
                dev.cryo.engine.dump.Dumper.dump(options, log);
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> !Files.exists(Path.of("/proc/" + pid)));
            Files.writeString(out, ""); // what the restored tasks print from here on
            try (Log log = Log.toFile(tmp.resolve("restore.log"), 4)) {
                restored = dev.cryo.engine.restore.Restorer.restoreTree(
                        new dev.cryo.engine.restore.RestoreOptions(tmp, true, false, false, null, null), log,
                        dev.cryo.engine.ActionScripts.NONE);
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> Files.readString(out).lines()
                    .filter(l -> l.startsWith("child 2 pgid 0 ")).count() > 3 && Files.readString(out).lines()
                    .filter(l -> l.startsWith("root 1 pgid 0 ")).count() > 3);
            String plan = Files.readString(tmp.resolve("restore.log"));
            assertTrue(!plan.contains("setpgid"), "no task joins a group it cannot name:\n" + plan);
            int root = restored;
            String[] rootStat = stat(root), kidStat = stat(Integer.parseInt(Files.readString(Path.of("/proc/" + root
                    + "/task/" + root + "/children")).strip()));
            assertEquals(rootStat[2], kidStat[2], "the child is in the root's group, as seen from outside");
            assertEquals(rootStat[3], kidStat[3], "and in its session");
        } finally {
            if (restored > 0) {
                ProcessHandle.of(restored).ifPresent(p -> {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                });
                Reaper.reap(restored);
            }
            unshare.descendants().forEach(ProcessHandle::destroyForcibly);
            unshare.destroyForcibly();
            unshare.waitFor(20, TimeUnit.SECONDS);
        }
    }

    /** state, ppid, pgid, sid of /proc/PID/stat. */
    private static String[] stat(int pid) throws java.io.IOException {
        String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
        return s.substring(s.lastIndexOf(')') + 2).split(" ");
    }
}
