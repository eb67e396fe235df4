package dev.cryo.engine.incremental;

import dev.cryo.engine.resource.SharedMemory;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Reaper;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFile;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.dump_stats_entry;
import dev.cryo.image.proto.pagemap_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shared anonymous memory in a chain of dumps: two pre-dumps and a dump of a parent and child that share 64 pages.
 * Between the dumps the child writes three of them. Each dump saves the object once; the second pre-dump leaves
 * every page to the first, and the dump saves only the three written, leaving the rest to the chain. Restored from
 * the dump, both tasks find every page as it was last written, read down two parent links.
 */
@RootWithPtrace
class SharedMemoryIncrementalTest {
    static final String PROGRAM = """
            #include <signal.h>
            #include <stdio.h>
            #include <sys/mman.h>
            #include <unistd.h>
            #define PAGES 64
            static volatile sig_atomic_t write3, verify;
            static void on1(int s) { (void)s; write3 = 1; }
            static void on2(int s) { (void)s; verify = 1; }
            static long *mem;
            static long want(int k, int written) { return written && k >= 5 && k < 8 ? 100 + k : k; }
            static const char *check(int written) {
                for (int k = 0; k < PAGES; k++)
                    for (int w = 0; w < 512; w++)
                        if (mem[k * 512 + w] != want(k, written)) return "FAIL";
                return "PASS";
            }
            int main(void) {
                setvbuf(stdout, NULL, _IOLBF, 0);
                mem = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                for (int k = 0; k < PAGES; k++) for (int w = 0; w < 512; w++) mem[k * 512 + w] = k;
                signal(SIGUSR1, on1);
                signal(SIGUSR2, on2);
                pid_t kid = fork();
                if (kid == 0) {
                    printf("child %d\\n", getpid());
                    int written = 0;
                    for (;;) {
                        if (write3) {
                            write3 = 0;
                            for (int k = 5; k < 8; k++) for (int w = 0; w < 512; w++) mem[k * 512 + w] = 100 + k;
                            written = 1;
                            printf("written\\n");
                        }
                        if (verify) { verify = 0; printf("%s child\\n", check(written)); }
                        usleep(10000);
                    }
                }
                for (;;) {
                    if (verify) { verify = 0; kill(kid, SIGUSR2); printf("%s parent\\n", check(1)); }
                    usleep(10000);
                }
            }
            """;

    @TempDir
    Path tmp;

    @Test
    void unchangedSharedPagesAreLeftToTheParentAndComeBack() throws Exception {
        Path exe = CProgram.compile(tmp, "shmem-chain", PROGRAM);
        Target t = Target.start(exe, tmp.resolve("out.txt"));
        int child = 0;
        try {
            await().atMost(Duration.ofSeconds(10)).until(() -> childPid(t) > 0);
            child = childPid(t);
            Path pre1 = tmp.resolve("pre1"), pre2 = tmp.resolve("pre2"), dump = tmp.resolve("dump");
            Incremental.preDump(t.pid(), pre1, null);
            assertEquals(List.of(64L, 0L), shmemPages(pre1), "the first pre-dump saves the object whole");
            Incremental.preDump(t.pid(), pre2, pre1);
            assertEquals(List.of(0L, 64L), shmemPages(pre2), "nothing changed: every page is the first pre-dump's");
            try (Stream<Path> files = Files.list(pre2)) { // the tracker's state and the hashes as private as images
                for (Path f : files.filter(Files::isRegularFile).toList()) {
                    assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                            Files.getPosixFilePermissions(f)), f.getFileName().toString());
                }
            }

            Syscall.raw(Syscall.KILL, child, 10); // SIGUSR1: the child writes pages 5, 6 and 7
            await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().contains("written"));
            Incremental.dump(t.pid(), dump, pre2, false, false);
            assertEquals(List.of(3L, 61L), shmemPages(dump), "only the three pages written are saved again");
            dump_stats_entry stats = Incremental.stats(dump);
            assertEquals(3, stats.getShpagesWritten());
            assertEquals(61, stats.getShpagesSkippedParent());

            int parent = t.pid(), kid = child;
            await().atMost(Duration.ofSeconds(10)).until(() -> !Files.exists(Path.of("/proc/" + parent))
                    && !Files.exists(Path.of("/proc/" + kid)));
            assertEquals(0, Checkpoint.restore(dump));
            int before = t.lines().size();
            Syscall.raw(Syscall.KILL, t.pid(), 12); // SIGUSR2: both check every page
            await().atMost(Duration.ofSeconds(10)).until(() -> t.lines().size() >= before + 2);
            List<String> verdicts = t.lines().subList(before, t.lines().size());
            assertTrue(verdicts.contains("PASS parent") && verdicts.contains("PASS child"),
                    "both find the shared pages as last written: " + verdicts);
        } finally {
            Syscall.raw(Syscall.KILL, t.pid(), 9);
            if (child > 0) {
                Syscall.raw(Syscall.KILL, child, 9);
            }
            Reaper.reap(t.pid());
            int p = t.pid(), c = child;
            await().atMost(Duration.ofSeconds(10)).until(() -> !Files.exists(Path.of("/proc/" + p))
                    && (c == 0 || !Files.exists(Path.of("/proc/" + c))));
        }
    }

    /** Pages the directory's one shared object saves itself, and pages it leaves to the parent. */
    private static List<Long> shmemPages(Path dir) throws Exception {
        Path pagemap;
        try (Stream<Path> s = Files.list(dir)) {
            pagemap = s.filter(p -> p.getFileName().toString().startsWith("pagemap-shmem-")).findFirst().orElseThrow();
        }
        long present = 0, inParent = 0;
        ImageFile img = ImageDir.open(dir).read(pagemap.getFileName().toString());
        for (com.google.protobuf.Message m : img.entries()) {
            if (m instanceof pagemap_entry e) {
                if (PageMap.flags(e) == PageMap.PE_PARENT) {
                    inParent += PageMap.pageCount(e);
                } else {
                    present += PageMap.pageCount(e);
                }
            }
        }
        assertTrue(Files.exists(dir.resolve(SharedMemory.HASHES + pagemap.getFileName().toString()
                .replace("pagemap-shmem-", "").replace(".img", ""))), "its page hashes are kept beside it");
        return List.of(present, inParent);
    }

    private static int childPid(Target t) throws java.io.IOException {
        for (String l : t.lines()) {
            if (l.startsWith("child ")) {
                return Integer.parseInt(l.substring("child ".length()).strip());
            }
        }
        return 0;
    }
}
