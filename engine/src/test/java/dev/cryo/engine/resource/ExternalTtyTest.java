package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A terminal whose master is outside the dumped tree (the test holds it), as CRIU: refused without -j, dumped with
 * --external tty[RDEV:DEV], and on restore refused without --inherit-fd fd[N]:tty[RDEV:DEV]; with it the restorer's
 * fd N is the process's terminal again, and what it writes reaches the outside master.
 */
@RootWithPtrace
class ExternalTtyTest {
    @TempDir
    Path tmp;

    /** Opens the slave argv[1] as fd 3; on "go" writes "hello" into it. */
    static final String ON_TERMINAL = """
            #include <fcntl.h>
            #include <stdio.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                setvbuf(stdout, NULL, _IONBF, 0);
                if (open(argv[1], O_RDWR | O_NOCTTY) != 3) { perror("open"); return 1; }
                printf("ready\\n");
                while (access("go", F_OK) != 0) usleep(1000);
                printf(write(3, "hello\\n", 6) == 6 ? "sent\\n" : "FAIL write\\n");
                while (1) pause();
            }
            """;

    private static int open(String path, int flags) throws Exception {
        byte[] p = (path + "\0").getBytes(StandardCharsets.UTF_8);
        NativeBuffer b = NativeBuffer.allocate(p.length);
        b.put(0, p);
        return (int) Syscall.call("open " + path, Syscall.OPENAT, -100, b.address(), flags, 0);
    }

    @Test
    void slaveNamedExternalComesBackThroughInheritFd() throws Exception {
        Path exe = CProgram.compile(tmp, "onterm", ON_TERMINAL);
        int master = open("/dev/ptmx", RegularFile.O_RDWR | RegularFile.O_NOCTTY);
        int mine = -1;
        try {
            NativeBuffer arg = NativeBuffer.allocate(8);
            arg.putInt(0, 0);
            Syscall.call("TIOCSPTLCK", Syscall.IOCTL, master, Tty.TIOCSPTLCK, arg.address());
            Syscall.call("TIOCGPTN", Syscall.IOCTL, master, Tty.TIOCGPTN, arg.address());
            String slave = "/dev/pts/" + arg.getInt(0);
            try (Target t = Target.start(exe, tmp.resolve("out.txt"), slave)) {
                t.awaitLines(1);
                Tty.Node n = Tty.fstat(open(slave, RegularFile.O_RDWR | RegularFile.O_NOCTTY | RegularFile.O_CLOEXEC));
                String name = Tty.externalName(n);
                Path img = tmp.resolve("img");
                CryoException plain = assertThrows(CryoException.class,
                        () -> Checkpoint.dump(new DumpOptions(t.pid(), img, false, false, false, false, false, false,
                                null, null, null)));
                assertTrue(plain.getMessage().contains("or with --external " + name), plain.getMessage());
                Checkpoint.dump(new DumpOptions(t.pid(), img, false, false, false, false, false, false, null, null,
                        null, FileOptions.DEFAULTS.withExternal(List.of(name)), false, false, false, "nftables", List.of()));
                await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());

                CryoException missing = assertThrows(CryoException.class, () -> Checkpoint.restore(
                        new RestoreOptions(img, true, false, false, null, null)));
                assertTrue(missing.getMessage().contains("--inherit-fd fd[N]:" + name), missing.getMessage());

                mine = open(slave, RegularFile.O_RDWR | RegularFile.O_NOCTTY);
                var inherit = new FileOptions(false, false, FileOptions.DEFAULT_GHOST_LIMIT, false,
                        List.of(new FileOptions.InheritFd(mine, name)), List.of(), false, "buildid", false, false, List.of());
                Checkpoint.restore(new RestoreOptions(img, true, false, false, null, null, inherit, false, "nftables",
                        List.of()));
                Files.createFile(tmp.resolve("go"));
                t.awaitLines(2);
                assertEquals(List.of("ready", "sent"), t.lines());
                NativeBuffer got = NativeBuffer.allocate(64);
                long r = Syscall.call("read master", Syscall.READ, master, got.address(), 64);
                assertTrue(new String(got.bytes(0, (int) r), StandardCharsets.UTF_8).startsWith("hello"),
                        "the restored process writes to the same terminal");
            }
        } finally {
            Syscall.raw(Syscall.CLOSE, master);
            if (mine >= 0) {
                Syscall.raw(Syscall.CLOSE, mine);
            }
        }
    }
}
