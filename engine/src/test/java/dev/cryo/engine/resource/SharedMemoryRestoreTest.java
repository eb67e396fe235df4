package dev.cryo.engine.resource;

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
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shared memory in one process comes back shared: every view of an object is the same object again, its pages
 * saved once; a memfd keeps its name and seals; madvise flags come back in smaps.
 */
@RootWithPtrace
class SharedMemoryRestoreTest {
    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            #include <sys/mman.h>
            #define PG 4096L
            static volatile sig_atomic_t go;
            static void on_usr1(int s) { (void)s; go = 1; }
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                unsigned char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                unsigned char *b = mremap(a, 0, 4 * PG, MREMAP_MAYMOVE); /* a second view of one object */
                memset(a, 7, 3 * PG);
                int fd = memfd_create("test-memfd", MFD_ALLOW_SEALING);
                ftruncate(fd, 2 * PG);
                unsigned char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                unsigned char *n = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
                memset(m, 9, 2 * PG);
                fcntl(fd, F_ADD_SEALS, F_SEAL_GROW);
                close(fd);
                unsigned char *h = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                madvise(h, 4 * PG, MADV_DONTFORK);
                signal(SIGUSR1, on_usr1);
                printf("ready\\n");
                while (!go) pause();
                int ok = b[0] == 7 && b[3 * PG - 1] == 7 && b[3 * PG] == 0 && n[PG] == 9;
                a[5] = 42; m[5] = 43;
                ok = ok && b[5] == 42 && n[5] == 43;
                char path[64];
                snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)m, (unsigned long)m + 2 * PG);
                int again = open(path, O_RDONLY);
                ok = ok && fcntl(again, F_GET_SEALS) == F_SEAL_GROW;
                printf("%s\\n", ok ? "ok" : "BAD");
                for (;;) pause();
            }
            """;

    @TempDir
    Path tmp;

    @Test
    void viewsOfOneObjectAreOneObjectAgainAndItsPagesAreSavedOnce() throws Exception {
        Path exe = CProgram.compile(tmp, "shared", PROGRAM);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            List<String> maps = withoutInodes(Files.readAllLines(Path.of("/proc/" + t.pid() + "/maps")));
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            try (Stream<Path> files = Files.list(img)) {
                // one for the anonymous object (two views), one for the memfd (two views)
                assertEquals(2, files.filter(p -> p.getFileName().toString().startsWith("pagemap-shmem-")).count());
            }
            assertTrue(Files.exists(img.resolve(SharedMemory.MEMFD_IMAGE)));
            assertEquals(0, Checkpoint.restore(img));
            assertEquals(maps, withoutInodes(Files.readAllLines(Path.of("/proc/" + t.pid() + "/maps"))));
            String smaps = Files.readString(Path.of("/proc/" + t.pid() + "/smaps"));
            assertTrue(smaps.matches("(?s).*VmFlags:[a-z ]* dc .*"), "MADV_DONTFORK is back");

            new ProcessBuilder("kill", "-USR1", Integer.toString(t.pid())).start().waitFor();
            t.awaitLines(2);
            assertEquals("ok", t.lines().get(1));
        }
    }

    /** /proc/PID/maps lines without the inode column (a restored object is a new inode). */
    static List<String> withoutInodes(List<String> lines) {
        return lines.stream().map(l -> {
            String[] f = l.split("\\s+", 6);
            return f[0] + " " + f[1] + " " + f[2] + " " + f[3] + " " + (f.length > 5 ? f[5] : "");
        }).toList();
    }
}
