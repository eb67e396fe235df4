package dev.cryo.engine.incremental;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A program that never stops writing its pages (about 5000 a second) while it is pre-dumped: a pre-dump reads most pages after the
 * program runs on again (with uffd-wp), so pages change under it and after it. Every such page must be saved again
 * by the next dump: after the restore from the final dump, each page holds the fill the program last wrote into
 * it, which it keeps in a separate table and checks itself.
 */
@RootWithPtrace
class ConcurrentWritesTest {
    static final String SOURCE = """
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/mman.h>
            #include <time.h>
            #define PAGES 4096
            static unsigned char last[PAGES];
            static volatile sig_atomic_t check;
            static void on_usr1(int s) { (void)s; check = 1; }
            int main(void) {
                unsigned char *a = mmap(NULL, PAGES * 4096L, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (int i = 0; i < PAGES; i++) { last[i] = (unsigned char)(i * 131 + 7); memset(a + i * 4096L, last[i], 4096); }
                signal(SIGUSR1, on_usr1);
                printf("ready\\n"); fflush(stdout);
                unsigned long long s = 88172645463325252ULL;
                struct timespec pace = {0, 200000}; /* ~5000 pages a second: many change between dumps, not all */
                for (;;) {
                    nanosleep(&pace, NULL);
                    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                    int i = (int)(s % PAGES);
                    unsigned char v = last[i] + 1;
                    memset(a + i * 4096L, v, 4096);
                    last[i] = v;
                    if (check) {
                        check = 0;
                        int bad = -1;
                        for (int p = 0; p < PAGES && bad < 0; p++)
                            for (int b = 0; b < 4096; b++)
                                if (a[p * 4096L + b] != last[p]) { bad = p; break; }
                        if (bad < 0) printf("intact\\n");
                        else printf("page %d holds %d, not %d\\n", bad, a[bad * 4096L], last[bad]);
                        fflush(stdout);
                    }
                }
            }
            """;

    @TempDir
    Path tmp;

    @AfterEach
    void trackersBack() {
        System.clearProperty("cryo.trackers");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"uffd-wp", "content-hash"})
    void pagesWrittenWhileAPreDumpReadsThemComeBackAsLastWritten(String tracker) throws Exception {
        IncrementalChainTest.assumeTracker(tracker);
        System.setProperty("cryo.trackers", tracker);
        Path exe = CProgram.compile(tmp, "writer", SOURCE);
        try (Target t = Target.start(exe, tmp.resolve("writer.out"))) {
            t.awaitLines(1);
            Path pre1 = tmp.resolve("pre-1"), pre2 = tmp.resolve("pre-2"), last = tmp.resolve("final");
            Incremental.preDump(t.pid(), pre1, null);
            Incremental.preDump(t.pid(), pre2, pre1);
            Incremental.dump(t.pid(), last, pre2, false, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            Checkpoint.restore(last);
            try (Target back = Target.adopt(t.pid(), t.out())) {
                new ProcessBuilder("kill", "-USR1", Integer.toString(back.pid())).start().waitFor();
                back.awaitLines(2);
                assertEquals("intact", back.lines().get(1).strip(), "the restored program's own check");
            }
        }
    }
}
