package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A process holding a lock is refused without --file-locks, naming the fd and the option, and runs on; with it,
 * a restore that finds the lock taken by someone else fails, says so, and leaves nothing behind.
 */
@org.junit.jupiter.api.extension.ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
@RootWithPtrace
class FileLocksTest {
    @TempDir
    Path tmp;

    /** Takes a POSIX write lock on all of argv[1], then counts. */
    static final String PROGRAM = """
            #include <fcntl.h>
            #include <stdio.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                int fd = open(argv[1], O_CREAT | O_RDWR, 0600);
                struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
                if (fd != 3 || fcntl(fd, F_SETLK, &fl)) return 2;
                for (int i = 0;; i++) { printf("%d\\n", i); usleep(5000); }
            }
            """;

    private Target start() throws Exception {
        Path exe = CProgram.compile(tmp, "locker", PROGRAM);
        Target t = Target.start(exe, tmp.resolve("out.txt"), tmp.resolve("locked").toString());
        t.awaitLines(2);
        return t;
    }

    @Test
    void heldLockIsRefusedWithoutTheOption() throws Exception {
        try (Target t = start()) {
            Files.createDirectories(tmp.resolve("img"));
            String m = assertThrows(CryoException.class, () -> Checkpoint.dump(t.pid(), tmp.resolve("img"), false))
                    .getMessage();
            assertTrue(m.contains("pid " + t.pid()) && m.contains("fd 3") && m.contains("POSIX")
                    && m.contains("--file-locks"), m);
            assertTrue(t.alive(), "pid " + t.pid() + " runs on");
            int seen = t.lines().size();
            t.awaitLines(seen + 3);
        }
    }

    @Test
    void lockTakenMeanwhileFailsTheRestoreCleanly() throws Exception {
        try (Target t = start()) {
            Path img = Files.createDirectories(tmp.resolve("img"));
            FileOptions locks = new FileOptions(true, false, FileOptions.DEFAULT_GHOST_LIMIT, false, List.of(),
                    List.of(), false, "buildid", false, false, List.of());
            Checkpoint.dump(new DumpOptions(t.pid(), img, false, false, true, true, false, false, null, null, null,
                    locks, false, false, false, "nftables", List.of()));
            assertTrue(Files.exists(img.resolve(FileLocks.IMAGE)));
            DeletedFilesTest.critDecodes(img, FileLocks.IMAGE);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            try (FileChannel ch = FileChannel.open(tmp.resolve("locked"), StandardOpenOption.WRITE);
                 FileLock held = ch.lock()) {
                String m = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
                assertTrue(m.contains("pid " + t.pid()) && m.contains("fd 3") && m.contains("POSIX lock")
                        && m.contains("another process holds"), m);
                assertFalse(t.alive(), "no half-restored pid " + t.pid());
            }
            assertEquals(0, Checkpoint.restore(img), "restores once the lock is free");
            assertTrue(t.alive());
            t.awaitLines(t.lines().size() + 2);
        }
    }
}
