package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A file a process holds open, changed between the dump and the restore: another size (a file opened read-only), or
 * another kind of file under its name. The restore refuses, saying what differs, and leaves no process; with the
 * file as it was, the same images restore.
 */
@RootWithPtrace
class ChangedFileTest {
    @TempDir
    Path tmp;

    static final String PROGRAM = """
            #include <fcntl.h>
            #include <stdio.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                int fd = open(argv[1], O_RDONLY);
                for (int i = 0;; i++) { printf("%d %d\\n", i, fd); usleep(10000); }
            }
            """;

    @Test
    void aFileOfAnotherSizeOrKindIsRefusedNamingWhatDiffers() throws Exception {
        Path exe = CProgram.compile(tmp, "reader", PROGRAM);
        Path data = tmp.resolve("data.txt");
        Files.writeString(data, "0123456789".repeat(10));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), data.toString())) {
            t.awaitLines(2);
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());

            Files.writeString(data, "shorter");
            CryoException size = assertThrows(CryoException.class, () -> Checkpoint.restore(img));
            assertTrue(size.getMessage().contains("file " + data + " has size 7, but it had 100 at dump time"),
                    size.getMessage());
            assertFalse(t.alive(), "a refused restore leaves no process");

            Files.delete(data);
            Files.createDirectory(data);
            CryoException kind = assertThrows(CryoException.class, () -> Checkpoint.restore(img));
            assertTrue(kind.getMessage().contains("file " + data + " is a directory now, but it was a regular file"),
                    kind.getMessage());
            assertFalse(t.alive(), "a refused restore leaves no process");

            Files.delete(data);
            Files.writeString(data, "0123456789".repeat(10));
            assertEquals(0, Checkpoint.restore(img));
            int seen = t.lines().size();
            t.awaitLines(seen + 2);
            assertTrue(t.alive(), "restored with the file as it was");
        }
    }
}
