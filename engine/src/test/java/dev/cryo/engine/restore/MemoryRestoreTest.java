package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The restored memory: same contents, same VMAs with the same flags, whichever way its pages went in. */
@RootWithPtrace
class MemoryRestoreTest {
    /**
     * 40 MiB of patterned anonymous memory, a read-only anonymous VMA, a dirty private file page, a MAP_NORESERVE
     * mapping; checks all on SIGUSR1.
     */
    static final String LAYOUT = """
            #include <signal.h>
            #include <stdio.h>
            #include <string.h>
            #include <fcntl.h>
            #include <unistd.h>
            #include <sys/mman.h>
            #define PG 4096
            #define BIG (40L << 20)
            static volatile sig_atomic_t go;
            static void on_usr1(int s) { (void)s; go = 1; }
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                unsigned char *big = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (long i = 0; i < BIG / PG; i++) if (i % 5) memset(big + i * PG, (int)(i * 13 + 1), PG);
                unsigned char *ro = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                memset(ro, 0x5a, 16 * PG);
                mprotect(ro, 16 * PG, PROT_READ);
                int fd = open(argv[1], O_RDONLY);
                unsigned char *file = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
                close(fd);
                memset(file + 2 * PG, 0xab, PG);
                /* no swap space set aside (VmFlags nr, not ac): a JVM reserves its heap so */
                unsigned char *nores = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
                memset(nores + PG, 0x3c, PG);
                signal(SIGUSR1, on_usr1);
                printf("ready\\n");
                for (;;) {
                    while (!go) pause();
                    go = 0;
                    int ok = 1;
                    for (long i = 0; i < BIG / PG; i++)
                        for (long j = 0; j < PG; j += 511) ok &= big[i * PG + j] == (i % 5 ? (unsigned char)(i * 13 + 1) : 0);
                    for (long i = 0; i < 16 * PG; i++) ok &= ro[i] == 0x5a;
                    for (long i = 0; i < 4 * PG; i++) ok &= file[i] == (i / PG == 2 ? 0xab : 0x11);
                    for (long i = 0; i < 8 * PG; i++) ok &= nores[i] == (i / PG == 1 ? 0x3c : 0);
                    printf("%s\\n", ok ? "ok" : "BAD");
                }
            }
            """;

    @TempDir
    Path tmp;

    /** Each VMA of /proc/PID/smaps: its maps line, VmFlags and Anonymous (pages the restore wrote). */
    static List<String> vmas(int pid) throws IOException {
        List<String> out = new ArrayList<>();
        String current = null, anon = null;
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps"))) {
            if (line.startsWith("Anonymous:")) {
                anon = line.replaceAll("\\s+", " ");
            } else if (line.startsWith("VmFlags:")) {
                out.add(current + " | " + anon + " | " + line.strip());
            } else if (!line.contains(":") || line.indexOf(':') > line.indexOf(' ')) {
                current = line.replaceAll("\\s+", " ");
            }
        }
        return out;
    }

    /** The LAYOUT program with its 4-page data file, once it is ready. */
    private Target startLayout() throws Exception {
        Path exe = CProgram.compile(tmp, "layout", LAYOUT);
        Path data = tmp.resolve("data.bin");
        byte[] b = new byte[4 * 4096];
        java.util.Arrays.fill(b, (byte) 0x11);
        Files.write(data, b);
        Target t = Target.start(exe, tmp.resolve("out.txt"), data.toString());
        try {
            t.awaitLines(1);
        } catch (RuntimeException | Error e) {
            t.close();
            throw e;
        }
        return t;
    }

    @Test
    void largeAnonymousMemoryComesBackWithTheSameVmasFlagsAndContents() throws Exception {
        try (Target t = startLayout()) {
            List<String> before = vmas(t.pid());
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            List<String> after = vmas(t.pid());
            assertEquals(String.join("\n", before), String.join("\n", after));

            String log = Files.readString(tmp.resolve("img/restore.log"));
            assertTrue(log.matches("(?s).*pages written in \\d+ us: [1-9]\\d* by UFFDIO_COPY into [1-9]\\d* VMAs.*"), log);
            assertTrue(Runtime.getRuntime().availableProcessors() < 2 || log.contains(" on 2 threads"), log);

            ProcessHandle.of(t.pid()).orElseThrow(); // still there to be signalled
            new ProcessBuilder("kill", "-USR1", Integer.toString(t.pid())).start().waitFor();
            t.awaitLines(2);
            assertEquals("ok", t.lines().get(1));
        }
    }

    /**
     * A shared file mapping made read-only from a file opened for writing may be made writable later (VM_MAYWRITE):
     * the restore maps it from a file opened for writing too, so that mprotect still works (zdtm maps_file_prot).
     */
    static final String SHARED_READ_ONLY = """
            #include <fcntl.h>
            #include <stdio.h>
            #include <unistd.h>
            #include <sys/mman.h>
            int main(void) {
                int fd = open("shared.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
                if (fd < 0 || ftruncate(fd, 4096) < 0) return 1;
                char *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
                if (m == MAP_FAILED) return 2;
                close(fd);
                printf("ready\\n"); fflush(stdout);
                while (access("go", F_OK) != 0) usleep(20000);
                int ok = mprotect(m, 4096, PROT_READ | PROT_WRITE) == 0;
                if (ok) m[0] = 'w';
                printf("%s\\n", ok ? "writable again" : "mprotect FAILED"); fflush(stdout);
                return 0;
            }
            """;

    @Test
    void aSharedMappingReadOnlyFromAFileOpenedForWritingCanBeMadeWritable() throws Exception {
        assertEquals(List.of("ready", "writable again"), Checkpoint.goAfterRestore(tmp, "sharedro", SHARED_READ_ONLY, 2));
        assertEquals('w', (char) Files.readAllBytes(tmp.resolve("shared.dat"))[0]);
    }

    @Test
    void truncatedPagesImageIsNamedAndLeavesNoProcessNorHeldPid() throws Exception {
        try (Target t = startLayout()) {
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            Path pages = img.resolve("pages-1.img");
            Path whole = tmp.resolve("pages-1.whole");
            Files.copy(pages, whole);
            try (var ch = java.nio.channels.FileChannel.open(pages, java.nio.file.StandardOpenOption.WRITE)) {
                ch.truncate(ch.size() / 2);
            }
            String m = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
            // the manifest check refuses it before the pid is read from the images: it names the directory
            assertTrue((m.contains("cannot restore pid " + t.pid()) || m.contains("cannot restore from " + img))
                    && m.contains("pages-1.img") && m.contains("truncated"), m);
            assertFalse(t.alive(), "nothing runs as pid " + t.pid());

            Files.move(whole, pages, StandardCopyOption.REPLACE_EXISTING);
            assertEquals(0, Checkpoint.restore(img), "the pid is free again");
            new ProcessBuilder("kill", "-USR1", Integer.toString(t.pid())).start().waitFor();
            t.awaitLines(2);
            assertEquals("ok", t.lines().get(1));
        }
    }
}
