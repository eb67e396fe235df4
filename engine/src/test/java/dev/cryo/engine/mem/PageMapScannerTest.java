package dev.cryo.engine.mem;

import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PageMapScannerTest {
    /**
     * Anonymous memory written in a pattern (every third page, and a dense block; every other page of a larger
     * mapping, more runs than one scan call returns), a private file mapping with
     * a few pages copied on write and others only read, and a shared file mapping written: only the anonymous
     * and copied-on-write pages are the process's own.
     */
    static final String SOURCE = """
            #include <fcntl.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/mman.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                long pg = 4096;
                unsigned char *a = mmap(NULL, 3000 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (long i = 0; i < 1500; i += 3) a[i * pg] = 1;
                memset(a + 2000 * pg, 7, 600 * pg);
                volatile unsigned char sink = a[2800 * pg]; /* read only: the zero page, saved like the kernel says */
                /* 5000 one-page runs: more regions than one PAGEMAP_SCAN call returns (here its walk_end then
                   stops short of the last region it returned) */
                unsigned char *b = mmap(NULL, 10000 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (long i = 0; i < 10000; i += 2) b[i * pg] = 1;
                int fd = open(argv[1], O_RDWR);
                unsigned char *f = mmap(NULL, 64 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
                for (int i = 0; i < 64; i++) sink += f[i * pg];
                f[5 * pg] = 1; f[6 * pg] = 1; f[40 * pg] = 1;
                /* written pages on both sides of VMA boundaries: one region split in five by its protections */
                unsigned char *c = mmap(NULL, 64 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (long i = 5; i < 40; i++) c[i * pg] = 3;
                mprotect(c + 10 * pg, pg, PROT_NONE);
                mprotect(c + 30 * pg, 4 * pg, PROT_READ);
                unsigned char *s = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                s[0] = 2;
                printf("%lx %lx %lx\\n", (unsigned long)a, (unsigned long)f, (unsigned long)c); fflush(stdout);
                for (;;) pause();
            }
            """;

    @Test
    void scanAndRawEntriesFindTheSameOwnPages(@TempDir Path dir) throws Exception {
        Privileges.assumeRootWithPtrace();
        Path exe = CProgram.compile(dir, "pages", SOURCE);
        Path data = dir.resolve("data");
        Files.write(data, new byte[64 * 4096]);
        try (Target t = Target.start(exe, dir.resolve("out"), data.toString())) {
            await().atMost(Duration.ofSeconds(20)).until(() -> Files.exists(t.out()) && !t.lines().isEmpty());
            String[] addrs = t.lines().get(0).split(" ");
            long anon = Long.parseUnsignedLong(addrs[0], 16), file = Long.parseUnsignedLong(addrs[1], 16);
            List<MapsEntry> maps = new ProcFs().maps(t.pid());
            List<PageRun> scanned = new ArrayList<>(), raw = new ArrayList<>(), ahead = new ArrayList<>();
            boolean kernelScans;
            try (PageMapScanner s = new PageMapScanner(t.pid()); PageMapScanner r = new PageMapScanner(t.pid(), false);
                 PageMapScanner g = new PageMapScanner(t.pid())) {
                g.scanAhead(maps, m -> !m.isKernelSpecial() && !m.shared()); // VMAs next to each other in one scan
                for (MapsEntry m : maps) {
                    if (m.isKernelSpecial() || m.shared()) {
                        continue;
                    }
                    scanned.addAll(s.ownPages(m));
                    raw.addAll(r.ownPages(m));
                    List<PageRun> ofVma = g.ownPages(m);
                    for (PageRun run : ofVma) {
                        assertTrue(run.address() >= m.start() && run.end() <= m.end(), run + " within its VMA " + m);
                    }
                    ahead.addAll(ofVma);
                }
                kernelScans = s.scanning();
                assertTrue(!r.scanning());
            }
            System.out.println("PAGEMAP_SCAN " + (kernelScans ? "used" : "not available: both ran on raw entries"));
            assertEquals(raw, scanned);
            assertEquals(raw, ahead, "scanned ahead, VMA groups at once");
            long split = Long.parseUnsignedLong(addrs[2], 16);
            assertTrue(maps.stream().filter(m -> m.start() >= split && m.end() <= split + 64 * 4096L).count() >= 3,
                    "the split region is several VMAs");
            assertTrue(PageRanges.ofRuns(ahead).containsAll(split + 5 * 4096L, split + 10 * 4096L)
                    && PageRanges.ofRuns(ahead).containsAll(split + 11 * 4096L, split + 40 * 4096L), "pages by the splits");

            PageRanges own = PageRanges.ofRuns(scanned);
            for (long i = 0; i < 1500; i += 3) {
                assertTrue(own.contains(anon + i * 4096), "written anonymous page " + i);
            }
            assertTrue(!own.contains(anon + 4096), "untouched anonymous page");
            assertTrue(own.containsAll(anon + 2000 * 4096L, anon + 2600 * 4096L), "dense block");
            assertTrue(own.contains(file + 5 * 4096) && own.contains(file + 6 * 4096) && own.contains(file + 40 * 4096),
                    "pages copied on write");
            assertTrue(!own.contains(file) && !own.contains(file + 7 * 4096), "clean file pages come from the file");
        }
    }
}
