package dev.cryo.engine.restore;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Neighbouring private anonymous VMAs that the kernel kept apart in the dumped process (a moving mremap put one
 * beside the other) come back as two VMAs, not merged into one.
 */
@RootWithPtrace
class AdjacentVmasRestoreTest {
    /**
     * In one hole: an 8 MiB pair (pages in both), a pair whose moved half has no pages left (MADV_DONTNEED), a
     * read-only row of three, a PROT_NONE pair. Each second VMA is made elsewhere and mremapped beside the first.
     */
    static final String NEIGHBOURS = """
            #define _GNU_SOURCE
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            #include <sys/mman.h>
            #define PG 4096L
            #define MB (256 * PG)
            static volatile sig_atomic_t go;
            static void on_usr1(int s) { (void)s; go = 1; }
            static unsigned char *base;
            /* a VMA of len bytes at base+off filled with v, made elsewhere and moved there when moved */
            static void vma(long off, long len, int v, int moved) {
                unsigned char *p = mmap(moved ? NULL : base + off, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | (moved ? 0 : MAP_FIXED), -1, 0);
                memset(p, v, len);
                if (moved) mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, base + off);
            }
            static int holds(long off, long len, int v) {
                for (long i = 0; i < len; i += 509) if (base[off + i] != v) return 0;
                return 1;
            }
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                base = mmap(NULL, 16 * MB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                munmap(base, 16 * MB);
                vma(0, 4 * MB, 1, 0);
                vma(4 * MB, 4 * MB, 2, 1);
                vma(9 * MB, 8 * PG, 3, 0);
                vma(9 * MB + 8 * PG, 8 * PG, 4, 1);
                madvise(base + 9 * MB + 8 * PG, 8 * PG, MADV_DONTNEED);
                vma(10 * MB, 4 * PG, 5, 0);
                vma(10 * MB + 4 * PG, 4 * PG, 6, 1);
                vma(10 * MB + 8 * PG, 4 * PG, 7, 1);
                mprotect(base + 10 * MB, 12 * PG, PROT_READ);
                vma(11 * MB, 4 * PG, 8, 0);
                vma(11 * MB + 4 * PG, 4 * PG, 9, 1);
                mprotect(base + 11 * MB, 8 * PG, PROT_NONE);
                signal(SIGUSR1, on_usr1);
                printf("ready\\n");
                for (;;) {
                    while (!go) pause();
                    go = 0;
                    mprotect(base + 11 * MB, 8 * PG, PROT_READ);
                    int ok = holds(0, 4 * MB, 1) && holds(4 * MB, 4 * MB, 2) && holds(9 * MB, 8 * PG, 3)
                            && holds(9 * MB + 8 * PG, 8 * PG, 0) && holds(10 * MB, 4 * PG, 5)
                            && holds(10 * MB + 4 * PG, 4 * PG, 6) && holds(10 * MB + 8 * PG, 4 * PG, 7)
                            && holds(11 * MB, 4 * PG, 8) && holds(11 * MB + 4 * PG, 4 * PG, 9);
                    mprotect(base + 11 * MB, 8 * PG, PROT_NONE);
                    printf("%s\\n", ok ? "ok" : "BAD");
                }
            }
            """;

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "cryo.restore.uffd={0}")
    @ValueSource(strings = {"true", "false"})
    void neighboursAMovingMremapLeftApartStayApart(String uffd) throws Exception {
        Path exe = CProgram.compile(tmp, "neighbours", NEIGHBOURS);
        String was = System.getProperty("cryo.restore.uffd");
        System.setProperty("cryo.restore.uffd", uffd);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            List<String> maps = Files.readAllLines(Path.of("/proc/" + t.pid() + "/maps"));
            List<String> vmas = MemoryRestoreTest.vmas(t.pid());
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertEquals(String.join("\n", maps), String.join("\n", Files.readAllLines(Path.of("/proc/" + t.pid() + "/maps"))));
            assertEquals(String.join("\n", vmas), String.join("\n", MemoryRestoreTest.vmas(t.pid())));
            String log = Files.readString(tmp.resolve("img/restore.log"));
            assertEquals(uffd.equals("true"), log.matches("(?s).*pages written in \\d+ us: [1-9]\\d* by UFFDIO_COPY.*"), log);

            new ProcessBuilder("kill", "-USR1", Integer.toString(t.pid())).start().waitFor();
            t.awaitLines(2);
            assertEquals("ok", t.lines().get(1));
            // after a restore the kernel still keeps them apart: a mprotect over a whole pair merges nothing
            assertEquals(String.join("\n", maps), String.join("\n", Files.readAllLines(Path.of("/proc/" + t.pid() + "/maps"))));
        } finally {
            if (was == null) {
                System.clearProperty("cryo.restore.uffd");
            } else {
                System.setProperty("cryo.restore.uffd", was);
            }
        }
    }
}
