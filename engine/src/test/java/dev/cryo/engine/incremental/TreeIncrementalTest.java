package dev.cryo.engine.incremental;

import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Reaper;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.PageMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An incremental dump of a tree whose tasks change between the pre-dump and the dump: child A is gone, child B
 * was born. The parent's pagemap leaves pages to the pre-dump, B's is whole, A's is not looked at; restored, each
 * task finds every page as it last wrote it and its private count equal to the one it keeps in shared memory.
 */
@RootWithPtrace
class TreeIncrementalTest {
    static final String PROGRAM = """
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            #include <sys/mman.h>
            #include <sys/wait.h>
            #define PAGES 64
            static volatile sig_atomic_t swap, verify;
            static void on1(int s) { (void)s; swap = 1; }
            static void on2(int s) { (void)s; verify = 1; }
            static long *shared, *own;
            static unsigned char *mem;
            /* step n writes n into page n % PAGES, and n into the task's shared slot */
            static void step(int slot) {
                long n = ++own[0];
                long *p = (long *)(mem + (n % PAGES) * 4096);
                for (int w = 0; w < 512; w++) p[w] = n;
                shared[slot] = n;
            }
            static int check(int slot) {
                long n = own[0];
                if (shared[slot] != n) return 0;
                for (int k = 0; k < PAGES; k++) {
                    long want = n - (((n - k) % PAGES) + PAGES) % PAGES;
                    long *p = (long *)(mem + k * 4096);
                    if (want < 0) want = 0;
                    for (int w = 0; w < 512; w++) if (p[w] != want) return 0;
                }
                return 1;
            }
            static pid_t spawn(const char *name) {
                pid_t k = fork();
                if (k == 0) {
                    memset(mem, 0, PAGES * 4096);
                    own[0] = 0;
                    signal(SIGUSR1, SIG_IGN);
                    printf("child %s %d\\n", name, getpid());
                    for (;;) {
                        if (verify) { verify = 0; printf("%s %d\\n", check(1) ? "PASS" : "FAIL", getpid()); }
                        step(1);
                        usleep(10000);
                    }
                }
                return k;
            }
            int main(void) {
                setvbuf(stdout, NULL, _IOLBF, 0);
                shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                own = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                mem = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                signal(SIGUSR1, on1);
                signal(SIGUSR2, on2);
                pid_t kid = spawn("A");
                for (;;) {
                    if (swap) { swap = 0; kill(kid, SIGKILL); waitpid(kid, NULL, 0); kid = spawn("B"); }
                    if (verify) { verify = 0; kill(kid, SIGUSR2); printf("%s %d\\n", check(0) ? "PASS" : "FAIL", getpid()); }
                    step(0);
                    usleep(10000);
                }
            }
            """;

    @TempDir
    Path tmp;

    @AfterEach
    void trackersBack() {
        System.clearProperty("cryo.trackers");
    }

    @ParameterizedTest(name = "tracker {0}")
    @ValueSource(strings = {"uffd-wp", "content-hash"})
    void aChildBornSinceIsWholeAndOneGoneIsIgnored(String tracker) throws Exception {
        IncrementalChainTest.assumeTracker(tracker);
        System.setProperty("cryo.trackers", tracker);
        Path exe = CProgram.compile(tmp, "swap", PROGRAM);
        Target t = Target.start(exe, tmp.resolve("out.txt"));
        int a = 0, b = 0;
        try {
            await().atMost(Duration.ofSeconds(10)).until(() -> childPid(t, "A") > 0);
            a = childPid(t, "A");
            Path pre = tmp.resolve("pre");
            Incremental.preDump(t.pid(), pre, null);
            Syscall.raw(Syscall.KILL, t.pid(), 10); // SIGUSR1: A goes, B comes
            await().atMost(Duration.ofSeconds(10)).until(() -> childPid(t, "B") > 0);
            b = childPid(t, "B");
            Path dump = tmp.resolve("dump");
            Incremental.dump(t.pid(), dump, pre, false, false);

            ImageDir images = ImageDir.open(dump);
            assertTrue(images.pagemap(t.pid()).runs().stream().anyMatch(PageMap.PageRun::inParent),
                    "the parent's unchanged pages stay in the pre-dump");
            assertFalse(images.pagemap(b).runs().stream().anyMatch(PageMap.PageRun::inParent),
                    "child " + b + ", born since the pre-dump, is dumped whole");
            assertFalse(Files.exists(dump.resolve("pagemap-" + a + ".img")), "child " + a + " is gone");

            int parent = t.pid(), child = b;
            await().atMost(Duration.ofSeconds(10)).until(() -> !Files.exists(Path.of("/proc/" + parent))
                    && !Files.exists(Path.of("/proc/" + child)));
            assertEquals(0, Checkpoint.restore(dump));
            int before = t.lines().size();
            Syscall.raw(Syscall.KILL, t.pid(), 12); // SIGUSR2: each checks its pages and counts
            await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().size() >= before + 2);
            List<String> verdicts = t.lines().subList(before, t.lines().size());
            assertTrue(verdicts.contains("PASS " + parent) && verdicts.contains("PASS " + child),
                    "both tasks find their memory as they left it: " + verdicts);
        } finally {
            Syscall.raw(Syscall.KILL, t.pid(), 9);
            if (b > 0) {
                Syscall.raw(Syscall.KILL, b, 9);
            }
            Reaper.reap(t.pid()); // restored, the parent is this JVM's child
            int p = t.pid(), c = b;
            await().atMost(Duration.ofSeconds(10)).until(() -> !Files.exists(Path.of("/proc/" + p))
                    && (c == 0 || !Files.exists(Path.of("/proc/" + c))));
        }
    }

    private static int childPid(Target t, String name) throws java.io.IOException {
        for (String l : t.lines()) {
            if (l.startsWith("child " + name + " ")) {
                return Integer.parseInt(l.substring(("child " + name + " ").length()).strip());
            }
        }
        return 0;
    }
}
