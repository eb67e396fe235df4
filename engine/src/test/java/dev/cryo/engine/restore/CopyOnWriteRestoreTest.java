package dev.cryo.engine.restore;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Private pages a parent and its child still share copy-on-write at the dump are one page again after the restore
 * (CRIU's zdtm cow00 and cow01): a preforking server's workers would otherwise each come back with a copy of all
 * the master's memory. The parent fills 64 pages before it forks; the child writes one and drops another
 * (MADV_DONTNEED), the parent writes a third. After the restore the 61 others have one frame in both (the pagemap
 * shows it, as root), and each task reads its own contents: the child its written page and a zero page where it
 * dropped one, the parent its own. A dump that leaves them running leaves those pages shared too.
 */
@RootWithPtrace
class CopyOnWriteRestoreTest {
    static final String PROGRAM = """
            #include <signal.h>
            #include <stdint.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/mman.h>
            #include <sys/wait.h>
            #include <unistd.h>
            #define N 64
            static unsigned char *m;
            static uint64_t frame(pid_t p, int i) {
                char path[64];
                uint64_t v = 0;
                snprintf(path, sizeof path, "/proc/%d/pagemap", p);
                FILE *f = fopen(path, "r");
                if (!f) return 0;
                fseek(f, (long) ((uintptr_t) (m + i * 4096) / 4096 * 8), SEEK_SET);
                if (fread(&v, sizeof v, 1, f) != 1) v = 0;
                fclose(f);
                return v >> 63 ? v & ((1ULL << 55) - 1) : 0;
            }
            static int shared(pid_t kid) {
                int n = 0;
                for (int i = 0; i < N; i++) n += frame(getpid(), i) != 0 && frame(getpid(), i) == frame(kid, i);
                return n;
            }
            static int holds(int page, int byte) {
                for (int i = 0; i < 4096; i++) if (m[page * 4096 + i] != (unsigned char) byte) return 0;
                return 1;
            }
            static int others(int a, int b) {
                for (int i = 0; i < N; i++) if (i != a && i != b && !holds(i, i + 1)) return 0;
                return 1;
            }
            int main(void) {
                int up[2];
                m = mmap(NULL, N * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (m == MAP_FAILED || pipe(up) < 0) return 1;
                for (int i = 0; i < N; i++) memset(m + i * 4096, i + 1, 4096);
                pid_t kid = fork();
                if (kid == 0) {
                    memset(m + 3 * 4096, 0xee, 4096);
                    madvise(m + 5 * 4096, 4096, MADV_DONTNEED);
                    char c = 'r';
                    write(up[1], &c, 1);
                    while (access("go", F_OK) != 0) usleep(20000);
                    c = holds(3, 0xee) && holds(5, 0) && others(3, 5) ? 'y' : 'n';
                    write(up[1], &c, 1);
                    for (;;) pause();
                }
                char c;
                memset(m + 7 * 4096, 0xdd, 4096);
                if (read(up[0], &c, 1) != 1) return 2;
                printf("ready %d\\n", shared(kid)); fflush(stdout);
                while (access("go", F_OK) != 0) usleep(20000);
                int n = shared(kid);
                if (read(up[0], &c, 1) != 1) return 3;
                printf("shared %d, child's pages %s, parent's %s\\n", n, c == 'y' ? "right" : "WRONG",
                       holds(7, 0xdd) && holds(5, 6) && others(7, 7) ? "right" : "WRONG");
                fflush(stdout);
                kill(kid, SIGKILL);
                waitpid(kid, NULL, 0);
                return 0;
            }
            """;

    @TempDir
    Path tmp;

    @Test
    void pagesParentAndChildSharedStayShared() throws Exception {
        // "ready 61": before the dump, 61 of 64 pages shared
        assertEquals(List.of("ready 61", "shared 61, child's pages right, parent's right"),
                Checkpoint.goAfterRestore(tmp, "cow", PROGRAM, 2));
    }

    /**
     * A dump that leaves the tree running (-R; a pre-dump too) leaves those pages shared: process_vm_readv's
     * read-only pin would give the reader's target a copy of each, so they are read through /proc/PID/mem.
     */
    @Test
    void aDumpThatLeavesThemRunningLeavesThemShared() throws Exception {
        Path exe = CProgram.compile(tmp, "cow", PROGRAM);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            Checkpoint.dump(t.pid(), tmp.resolve("img"), true);
            Files.createFile(tmp.resolve("go"));
            t.awaitLines(2);
            assertEquals(List.of("ready 61", "shared 61, child's pages right, parent's right"), t.lines());
        }
    }
}
