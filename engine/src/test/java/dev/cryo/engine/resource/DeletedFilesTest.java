package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
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
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Deleted files: a ghost over --ghost-limit and a file unlinked but linked elsewhere without --link-remap are
 * refused before the process is touched, naming fd, path, size and the option; with the option they go through
 * a dump and a restore, crit decodes the images, and -R leaves no link remap behind. A named POSIX semaphore, mapped
 * by a deleted name, needs no option.
 */
@org.junit.jupiter.api.extension.ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
@RootWithPtrace
class DeletedFilesTest {
    @TempDir
    Path tmp;

    /**
     * Makes argv[1] of argv[2] bytes, opens it, unlinks it (after linking it as argv[3] if given), then counts. With
     * argv[3] "tmpfile" the file is made nameless in argv[1]'s directory (O_TMPFILE) instead.
     */
    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/stat.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                long size = atol(argv[2]);
                int tmpfile = argc > 3 && !strcmp(argv[3], "tmpfile"), fd;
                if (tmpfile) {
                    char dir[4096];
                    snprintf(dir, sizeof(dir), "%s", argv[1]);
                    *strrchr(dir, '/') = 0;
                    fd = open(dir, O_TMPFILE | O_RDWR, 0600);
                } else {
                    fd = open(argv[1], O_CREAT | O_RDWR, 0600);
                }
                char block[4096];
                for (long i = 0; i < size; i += sizeof(block)) {
                    memset(block, (int)(i / 4096), sizeof(block));
                    if (write(fd, block, size - i < 4096 ? size - i : 4096) < 0) return 2;
                }
                lseek(fd, size / 2, SEEK_SET);
                if (argc > 3 && !tmpfile) link(argv[1], argv[3]);
                if (!tmpfile) unlink(argv[1]);
                for (int i = 0;; i++) {
                    if (access(argv[1], F_OK) == 0) { /* told to check: contents, offset, still deleted */
                        struct stat st;
                        const char *bad = NULL;
                        unlink(argv[1]);
                        if (fstat(fd, &st) || st.st_size != size) bad = "size";
                        else if (lseek(fd, 0, SEEK_CUR) != size / 2) bad = "offset";
                        else if (st.st_nlink != (argc > 3 && !tmpfile ? 1 : 0)) bad = "links";
                        else if (write(fd, "", 0) != 0) bad = "write";
                        else for (long j = 0; j < size && !bad; j += 4096) {
                            char c;
                            if (pread(fd, &c, 1, j) != 1 || c != (char)(j / 4096)) bad = "contents";
                        }
                        printf("%s\\n", bad ? bad : "ok");
                        return 0;
                    }
                    printf("%d\\n", i);
                    usleep(5000);
                }
            }
            """;

    private Target start(long size, boolean otherLink) throws Exception {
        Path exe = CProgram.compile(tmp, "deleted", PROGRAM);
        Path file = tmp.resolve("data");
        Target t = otherLink
                ? Target.start(exe, tmp.resolve("out.txt"), file.toString(), Long.toString(size), tmp.resolve("other").toString())
                : Target.start(exe, tmp.resolve("out.txt"), file.toString(), Long.toString(size));
        t.awaitLines(2);
        return t;
    }

    private static DumpOptions options(int pid, Path dir, boolean leaveRunning, FileOptions files) {
        return new DumpOptions(pid, dir, false, leaveRunning, true, true, false, false, null, null, null, files,
                false, false, false, "nftables", List.of());
    }

    private static FileOptions files(boolean linkRemap, long ghostLimit) {
        return new FileOptions(false, linkRemap, ghostLimit, false, List.of(), List.of(), false, "buildid", false,
                false, List.of());
    }

    private static void keepsCounting(Target t) throws Exception {
        assertTrue(t.alive(), "pid " + t.pid() + " still runs");
        t.awaitLines(t.lines().size() + 3);
        List<String> lines = t.lines();
        for (int i = 0; i < lines.size(); i++) {
            assertEquals(Integer.toString(i), lines.get(i), "line " + i + " of pid " + t.pid());
        }
    }

    /** Restores the images, lets the program check its file, and returns its verdict. */
    private String restoreAndCheck(Target t, Path img) throws Exception {
        await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
        assertEquals(0, Checkpoint.restore(img));
        assertTrue(t.alive(), "restored pid " + t.pid() + " runs");
        t.awaitLines(t.lines().size() + 2);
        Files.write(tmp.resolve("data"), new byte[0]); // the program's cue to check
        await().atMost(Duration.ofSeconds(20)).until(() -> !t.alive());
        List<String> lines = t.lines();
        return lines.get(lines.size() - 1);
    }

    @Test
    void ghostOverTheLimitIsRefusedNamingSizeAndOption() throws Exception {
        try (Target t = start(2 << 20, false)) {
            Files.createDirectories(tmp.resolve("img"));
            String m = assertThrows(CryoException.class, () -> Checkpoint.dump(options(t.pid(), tmp.resolve("img"),
                    false, FileOptions.DEFAULTS))).getMessage();
            assertTrue(m.contains("pid " + t.pid()) && m.contains("fd 3") && m.contains(tmp.resolve("data").toString())
                    && m.contains("2097152 bytes") && m.contains("1048576") && m.contains("--ghost-limit"), m);
            keepsCounting(t);
        }
    }

    @Test
    void ghostWithinARaisedLimitComesBackDeleted() throws Exception {
        try (Target t = start(2 << 20, false)) {
            Path img = Files.createDirectories(tmp.resolve("img"));
            Checkpoint.dump(options(t.pid(), img, false, files(false, 4 << 20)));
            assertTrue(Files.exists(img.resolve("remap-fpath.img")) && Files.exists(img.resolve("ghost-file-1.img")));
            assertTrue(Files.notExists(tmp.resolve("data")), "the dump leaves the name free");
            critDecodes(img, "remap-fpath.img", "ghost-file-1.img");
            assertEquals("ok", restoreAndCheck(t, img));
            assertTrue(Files.notExists(tmp.resolve("data")), "nothing left under the old name");
        }
    }

    /**
     * A file made with O_TMPFILE never had a name: its fd's flags keep O_TMPFILE's bits (__O_TMPFILE | O_DIRECTORY),
     * which the restore must not pass to open(2) when it opens the ghost (ENOTDIR). It comes back as it was: its
     * contents and offset, no name, written to.
     */
    @Test
    void anOTmpfileFileComesBackNamelessWithItsContents() throws Exception {
        Path exe = CProgram.compile(tmp, "deleted", PROGRAM);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), tmp.resolve("data").toString(), "10000", "tmpfile")) {
            t.awaitLines(2);
            Path img = Files.createDirectories(tmp.resolve("img"));
            Checkpoint.dump(options(t.pid(), img, false, FileOptions.DEFAULTS));
            assertEquals("ok", restoreAndCheck(t, img));
        }
    }

    /**
     * Works in argv[1], a directory it made, holds it open (fd 3) and removes it; on the cue (argv[2] appears) checks
     * that its working directory and fd 3 are still one removed directory: same inode, no links, nothing can be made
     * in it, and the name stays free.
     */
    static final String REMOVED_CWD = """
            #include <errno.h>
            #include <fcntl.h>
            #include <stdio.h>
            #include <sys/stat.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                if (mkdir(argv[1], 0750) || chdir(argv[1])) return 2;
                int fd = open(".", O_RDONLY | O_DIRECTORY);
                if (fd != 3 || rmdir(argv[1])) return 3;
                for (int i = 0;; i++) {
                    if (access(argv[2], F_OK) == 0) {
                        struct stat cwd, held;
                        const char *bad = NULL;
                        if (stat(".", &cwd) || fstat(fd, &held)) bad = "stat";
                        else if (!S_ISDIR(cwd.st_mode) || cwd.st_ino != held.st_ino || cwd.st_dev != held.st_dev) bad = "same";
                        else if (cwd.st_nlink != 0) bad = "links";
                        else if ((cwd.st_mode & 07777) != 0750) bad = "mode";
                        else if (openat(fd, "new", O_CREAT | O_WRONLY, 0600) >= 0 || errno != ENOENT) bad = "removed";
                        else if (access(argv[1], F_OK) == 0) bad = "name";
                        printf("%s\\n", bad ? bad : "ok");
                        return 0;
                    }
                    printf("%d\\n", i);
                    usleep(5000);
                }
            }
            """;

    /**
     * A working directory that was removed (and an fd of it): kept as CRIU keeps one, a ghost_file_entry of mode
     * S_IFDIR; the restore makes it again empty, the task enters it, and it is removed before the task runs. Before,
     * the dump took it, killed the target, and the restore failed: "directory ... (deleted) is missing".
     */
    @Test
    void aRemovedWorkingDirectoryComesBackRemoved() throws Exception {
        Path exe = CProgram.compile(tmp, "removed-cwd", REMOVED_CWD);
        Path dir = tmp.resolve("work");
        Path cue = tmp.resolve("check");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), dir.toString(), cue.toString())) {
            t.awaitLines(2);
            Path img = Files.createDirectories(tmp.resolve("img"));
            Checkpoint.dump(options(t.pid(), img, false, FileOptions.DEFAULTS));
            assertTrue(Files.exists(img.resolve("ghost-file-1.img")), "the removed directory is a ghost");
            critDecodes(img, "remap-fpath.img", "ghost-file-1.img");
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(img));
            assertTrue(t.alive(), "restored pid " + t.pid() + " runs");
            assertTrue(Files.notExists(dir), "the directory made for the restore is removed again");
            t.awaitLines(t.lines().size() + 2);
            Files.createFile(cue);
            await().atMost(Duration.ofSeconds(20)).until(() -> !t.alive());
            List<String> lines = t.lines();
            assertEquals("ok", lines.get(lines.size() - 1));
        }
    }

    @Test
    void failedRestoreLeavesNoGhostBehind() throws Exception {
        try (Target t = start(100000, false)) {
            Path img = Files.createDirectories(tmp.resolve("img"));
            Checkpoint.dump(options(t.pid(), img, false, FileOptions.DEFAULTS));
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            try {
                System.setProperty("cryo.fault.signal.step", "resume");
                System.setProperty("cryo.fault.signal", "TERM");
                String m = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
                assertTrue(m.contains("stopped by SIGTERM"), m);
            } finally {
                System.clearProperty("cryo.fault.signal.step");
                System.clearProperty("cryo.fault.signal");
            }
            assertFalse(t.alive(), "no half-restored pid " + t.pid());
            try (Stream<Path> left = Files.list(tmp)) {
                assertEquals(List.of(), left.filter(p -> p.getFileName().toString().startsWith("data")).toList(),
                        "the ghost made for the restore is gone with it");
            }
            assertEquals("ok", restoreAndCheck(t, img), "the images are intact");
        }
    }

    @Test
    void fileLinkedElsewhereIsRefusedWithoutLinkRemap() throws Exception {
        try (Target t = start(10000, true)) {
            Files.createDirectories(tmp.resolve("img"));
            String m = assertThrows(CryoException.class, () -> Checkpoint.dump(t.pid(), tmp.resolve("img"), false))
                    .getMessage();
            assertTrue(m.contains("pid " + t.pid()) && m.contains("fd 3") && m.contains("--link-remap"), m);
            keepsCounting(t);
        }
    }

    @Test
    void linkRemapIsRemovedWhenTheTreeRunsOn() throws Exception {
        try (Target t = start(10000, true)) {
            Path img = Files.createDirectories(tmp.resolve("img"));
            Checkpoint.dump(options(t.pid(), img, true, files(true, FileOptions.DEFAULT_GHOST_LIMIT)));
            try (Stream<Path> left = Files.list(tmp)) {
                assertEquals(List.of(), left.filter(p -> p.getFileName().toString().startsWith("link_remap")).toList());
            }
            keepsCounting(t);
        }
    }

    @Test
    void linkRemapRoundTripKeepsOneFile() throws Exception {
        try (Target t = start(10000, true)) {
            Path img = Files.createDirectories(tmp.resolve("img"));
            Checkpoint.dump(options(t.pid(), img, false, files(true, FileOptions.DEFAULT_GHOST_LIMIT)));
            critDecodes(img, "remap-fpath.img", "files.img");
            assertEquals("ok", restoreAndCheck(t, img));
            try (Stream<Path> left = Files.list(tmp)) {
                assertEquals(List.of(), left.filter(p -> p.getFileName().toString().startsWith("link_remap")).toList(),
                        "the restore removes the link remap");
            }
        }
    }

    /**
     * A named POSIX semaphore: glibc's sem_open maps /dev/shm/sem.XXXXXX, links it as /dev/shm/sem.NAME and unlinks
     * the first, so the process maps a deleted name of a file still linked. Without --link-remap (CRIU refuses it
     * there) the dump reopens it by the semaphore's name: after the restore the mapping and a new sem_open of the
     * name are one semaphore.
     */
    static final String SEMAPHORE = """
            #include <fcntl.h>
            #include <semaphore.h>
            #include <stdio.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                sem_t *s = sem_open(argv[1], O_CREAT, 0600, 1);
                if (s == SEM_FAILED) return 2;
                for (int i = 0;; i++) {
                    if (access(argv[2], F_OK) == 0) { /* told to check */
                        sem_t *again = sem_open(argv[1], 0);
                        int a = -1, b = -1;
                        sem_wait(s);
                        sem_getvalue(again, &a);
                        sem_post(again);
                        sem_getvalue(s, &b);
                        printf("%s\\n", again != SEM_FAILED && a == 0 && b == 1 ? "ok" : "two semaphores");
                        return 0;
                    }
                    sem_wait(s);
                    printf("%d\\n", i);
                    sem_post(s);
                    usleep(5000);
                }
            }
            """;

    @Test
    void aNamedSemaphoreIsReopenedByItsNameWithoutLinkRemap() throws Exception {
        Path exe = CProgram.compile(tmp, "semaphore", SEMAPHORE);
        String name = "/cryo-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        Path cue = tmp.resolve("check");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), name, cue.toString())) {
            t.awaitLines(2);
            Path img = Files.createDirectories(tmp.resolve("img"));
            Checkpoint.dump(options(t.pid(), img, false, FileOptions.DEFAULTS));
            assertTrue(Files.notExists(img.resolve("remap-fpath.img")), "no remap: the name reopens it");
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(img));
            t.awaitLines(t.lines().size() + 2);
            String maps = Files.readString(Path.of("/proc/" + t.pid() + "/maps"));
            assertTrue(maps.contains("/dev/shm/sem" + name.replace('/', '.')), maps);
            Files.write(cue, new byte[0]);
            await().atMost(Duration.ofSeconds(20)).until(() -> !t.alive());
            List<String> lines = t.lines();
            assertEquals("ok", lines.get(lines.size() - 1));
        } finally {
            Files.deleteIfExists(Path.of("/dev/shm/sem" + name.replace('/', '.')));
        }
    }

    /** crit 3.17 decodes each image (skipped, saying why, where crit is not installed). */
    static void critDecodes(Path dir, String... images) throws Exception {
        Path crit = Path.of("/usr/bin/crit");
        if (!Files.isExecutable(crit)) {
            System.out.println("crit decode not checked: " + crit + " is not installed");
            return;
        }
        for (String image : images) {
            Process p = new ProcessBuilder(crit.toString(), "decode", "-i", dir.resolve(image).toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "crit decode " + image + " ends");
            assertEquals(0, p.exitValue(), "crit decode " + image + ": " + out);
        }
    }

    /**
     * A FIFO made, opened both ways and removed (a shell's `mkfifo f; exec 3<>f; rm f`), with bytes in flight: refused
     * before ("not a regular file"); CRIU keeps it as a ghost without contents. It comes back a FIFO, deleted, with
     * its mode, its bytes and a working other side, and nothing is left at its name.
     */
    @Test
    void aDeletedFifoComesBackDeletedWithItsBytes() throws Exception {
        Path exe = CProgram.compile(tmp, "fifo", """
                #include <fcntl.h>
                #include <stdio.h>
                #include <string.h>
                #include <sys/stat.h>
                #include <unistd.h>
                int main(void) {
                    unlink("q");
                    if (mkfifo("q", 0640)) { printf("FAIL mkfifo\\n"); return 1; }
                    int fd = open("q", O_RDWR);
                    if (fd < 0 || unlink("q") || write(fd, "inflight", 8) != 8) { printf("FAIL setup\\n"); return 1; }
                    printf("ready\\n"); fflush(stdout);
                    while (access("go", F_OK) != 0) usleep(20000);
                    char b[32] = {0}, c[8] = {0}, link[256] = {0};
                    int n = read(fd, b, 31);
                    int w = write(fd, "more", 4), m = read(fd, c, 7);
                    readlink("/proc/self/fd/3", link, sizeof link - 1);
                    struct stat st;
                    fstat(fd, &st);
                    printf("%d %s, %d %d %s, %s, fifo %d mode %o\\n", n, b, w, m, c, strrchr(link, '/') + 1,
                           S_ISFIFO(st.st_mode), st.st_mode & 0777);
                    fflush(stdout);
                    return 0;
                }
                """);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertFalse(Files.exists(tmp.resolve("q"), java.nio.file.LinkOption.NOFOLLOW_LINKS), "no name is left");
            Files.createFile(tmp.resolve("go"));
            t.awaitLines(2);
            assertEquals("8 inflight, 4 4 more, q (deleted), fifo 1 mode 640", t.lines().get(1));
        }
    }
}
