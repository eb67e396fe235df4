package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.file_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A counter whose stdout is a pipe to a program outside the dumped tree (the shell's {@code counter | cat}) is
 * dumped, as CRIU dumps it; restored with {@code --inherit-fd fd[N]:pipe:[INO]} it writes into the restorer's own
 * pipe N, going on from the number after the last one the old reader got.
 */
@org.junit.jupiter.api.extension.ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
@RootWithPtrace
class InheritFdTest {
    @TempDir
    Path tmp;

    /** Writes its pid to argv[1], then counts on stdout, a line every 5 ms. */
    static final String PROGRAM = """
            #include <stdio.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                FILE *p = fopen(argv[1], "w");
                fprintf(p, "%d\\n", getpid());
                fclose(p);
                for (int i = 0;; i++) { printf("%d\\n", i); fflush(stdout); usleep(5000); }
            }
            """;

    @Test
    void pipeToAProgramOutsideIsDumpedAndReattachedToTheRestorersPipe() throws Exception {
        Path old = tmp.resolve("old.txt");
        int pid = startCounterIntoCat(old);
        try (Target t = Target.adopt(pid, old)) {
            Path img = Files.createDirectories(tmp.resolve("img"));
            String pipe = dumpWriter(t, img);
            file_entry entry = ImageDir.open(img).files().stream().filter(f -> f.getType() == fd_types.PIPE)
                    .findFirst().orElseThrow();
            assertEquals(pipe, "pipe:[" + Integer.toUnsignedString(entry.getPipe().getPipeId()) + "]");
            await().atMost(Duration.ofSeconds(5)).until(() -> !cat(old));
            List<String> before = Files.readAllLines(old);
            int last = Integer.parseInt(before.get(before.size() - 1));

            NativeBuffer fds = NativeBuffer.allocate(8);
            Syscall.call("pipe2", Syscall.PIPE2, fds.address(), RegularFile.O_CLOEXEC);
            int r = fds.getInt(0), w = fds.getInt(4);
            try {
                FileOptions.InheritFd wrong = new FileOptions.InheritFd(w, "pipe:[1]");
                RestoreOptions unknown = options(img, wrong, new FileOptions.InheritFd(987, pipe));
                String m = assertThrows(CryoException.class, () -> Checkpoint.restore(unknown)).getMessage();
                assertTrue(m.contains("cryo has no fd 987") && m.contains("--inherit-fd"), m);
                assertFalse(t.alive(), "no half-restored pid " + pid);

                assertEquals(0, Checkpoint.restore(options(img, wrong, new FileOptions.InheritFd(w, pipe))));
                assertFalse(Files.readString(img.resolve("restore.log")).contains("comes back without"),
                        "given with --inherit-fd, the pipe has its reader");
                Syscall.raw(Syscall.CLOSE, w);
                w = -1;
                String first = readLine(r);
                assertEquals(last + 1, Integer.parseInt(first), "the count goes on into the restorer's pipe");
            } finally {
                Syscall.raw(Syscall.CLOSE, r);
                if (w >= 0) {
                    Syscall.raw(Syscall.CLOSE, w);
                }
            }
        }
    }

    /**
     * Restored without --inherit-fd, the pipe comes back with no reader, as CRIU restores it: the restore says so, by
     * default, before the program's first write raises SIGPIPE. With --inherit-fd it says nothing (above).
     */
    @Test
    void aPipeThatComesBackWithoutItsReaderIsWarnedOf() throws Exception {
        Path old = tmp.resolve("old.txt");
        int pid = startCounterIntoCat(old);
        try (Target t = Target.adopt(pid, old)) {
            Path img = Files.createDirectories(tmp.resolve("img"));
            String pipe = dumpWriter(t, img);
            assertEquals(0, Checkpoint.restore(options(img)));
            String log = Files.readString(img.resolve("restore.log"));
            assertTrue(log.contains("Warn: " + pipe + " comes back without a reader") && log.contains("SIGPIPE")
                    && log.contains("--inherit-fd fd[N]:" + pipe), log);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive()); // its first write: SIGPIPE
        }
    }

    /**
     * Once the counter has written a few lines into its pipe, dumps it (not cat: refused before, the pipe's read end
     * being cat's) and waits until it is gone; returns the pipe's name, "pipe:[INO]".
     */
    private static String dumpWriter(Target t, Path img) throws Exception {
        t.awaitLines(3);
        String pipe = Files.readSymbolicLink(Path.of("/proc/" + t.pid() + "/fd/1")).toString();
        Checkpoint.dump(t.pid(), img, false);
        await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
        return pipe;
    }

    /** Starts {@code counter | cat > out}, as a shell would, and returns the counter's pid. */
    private int startCounterIntoCat(Path out) throws Exception {
        Path exe = CProgram.compile(tmp, "counter", PROGRAM);
        Path pidFile = tmp.resolve("pid");
        Process sh = new ProcessBuilder("sh", "-c", "'" + exe + "' '" + pidFile + "' </dev/null 2>/dev/null | cat > '"
                + out + "' 2>/dev/null &").start();
        sh.waitFor(10, TimeUnit.SECONDS);
        return await().atMost(Duration.ofSeconds(10)).ignoreExceptions()
                .until(() -> Integer.parseInt(Files.readString(pidFile).strip()), p -> p > 0);
    }

    private static RestoreOptions options(Path img, FileOptions.InheritFd... inherit) {
        FileOptions d = FileOptions.DEFAULTS;
        FileOptions files = new FileOptions(false, false, d.ghostLimit(), false, List.of(inherit), List.of(), false,
                "buildid", false, false, List.of());
        return new RestoreOptions(img, true, true, true, null, null, files, false, "nftables", List.of());
    }

    /** Whether a cat still writes {@code out}. */
    private static boolean cat(Path out) {
        return ProcessHandle.allProcesses().anyMatch(p -> {
            try {
                return Files.readSymbolicLink(Path.of("/proc/" + p.pid() + "/fd/1")).equals(out);
            } catch (Exception e) {
                return false;
            }
        });
    }

    /** The first line that comes out of {@code fd} (made non-blocking), waited for with a bound. */
    private static String readLine(int fd) throws Exception {
        Syscall.call("fcntl(F_SETFL)", Syscall.FCNTL, fd, 4, 04000);
        NativeBuffer b = NativeBuffer.allocate(1);
        StringBuilder s = new StringBuilder();
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(10)).until(() -> {
            while (Syscall.raw(Syscall.READ, fd, b.address(), 1) == 1) {
                if (b.buffer().get(0) == '\n') {
                    return true;
                }
                s.append((char) b.buffer().get(0));
            }
            return false;
        });
        return s.toString();
    }
}
