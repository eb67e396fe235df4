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
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.TtyType;
import dev.cryo.image.proto.tty_info_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A pty pair held inside the tree comes back with its index, its termios and the child's session on it as its
 * controlling terminal; a slave whose master is outside the tree needs -j; an index taken meanwhile is refused
 * with nothing left behind.
 */
@org.junit.jupiter.api.extension.ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
@RootWithPtrace
class TtyTest {
    @TempDir
    Path tmp;

    /**
     * The parent holds the master and prints what comes out of it; its child leads a session on the slave (no
     * echo, no output processing, 33 rows) and writes "tick N" there, or "lost" when the terminal is no longer its
     * controlling one or its settings changed. The first line is the child's pid.
     */
    static final String PROGRAM = """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <sys/ioctl.h>
            #include <termios.h>
            #include <unistd.h>
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                int m = posix_openpt(O_RDWR | O_NOCTTY);
                if (m < 0 || grantpt(m) || unlockpt(m)) return 2;
                char *name = ptsname(m);
                pid_t c = fork();
                if (c == 0) {
                    close(m);
                    setsid();
                    int s = open(name, O_RDWR);
                    struct termios t;
                    struct winsize w = {.ws_row = 33, .ws_col = 77};
                    if (s < 0 || ioctl(s, TIOCSCTTY, 0) || tcgetattr(s, &t)) return 3;
                    t.c_lflag &= ~ECHO;
                    t.c_oflag &= ~OPOST;
                    tcsetattr(s, TCSANOW, &t);
                    ioctl(s, TIOCSWINSZ, &w);
                    dup2(s, 1);
                    dup2(s, 0);
                    for (int i = 0;; i++) {
                        struct winsize now;
                        int ok = tcgetsid(0) == getpid() && tcgetpgrp(0) == getpgrp() && !ioctl(0, TIOCGWINSZ, &now)
                                && now.ws_row == 33 && !tcgetattr(0, &t) && !(t.c_lflag & ECHO);
                        dprintf(1, ok ? "tick %d\\n" : "lost %d\\n", i);
                        usleep(5000);
                    }
                }
                printf("child %d\\n", c);
                char buf[256];
                FILE *in = fdopen(m, "r");
                while (fgets(buf, sizeof(buf), in)) fputs(buf, stdout);
                return 4;
            }
            """;

    private Target start() throws Exception {
        Path exe = CProgram.compile(tmp, "ptypair", PROGRAM);
        Target t = Target.start(exe, tmp.resolve("out.txt"));
        t.awaitLines(5);
        return t;
    }

    private static DumpOptions dump(int pid, Path dir, boolean shellJob) {
        return new DumpOptions(pid, dir, false, false, shellJob, false, false, false, null, null, null);
    }

    /** Waits for {@code more} new lines and says none of them is "lost". */
    private static void ticksGoOn(Target t, int more) throws Exception {
        int seen = t.lines().size();
        t.awaitLines(seen + more);
        List<String> after = t.lines().subList(seen, seen + more);
        assertTrue(after.stream().allMatch(l -> l.startsWith("tick ")), after.toString());
    }

    private static int childOf(Target t) throws Exception {
        return Integer.parseInt(t.lines().get(0).substring("child ".length()).strip());
    }

    @Test
    void ptyPairInTheTreeComesBackWithItsSessionAndSettings() throws Exception {
        try (Target t = start()) {
            int child = childOf(t);
            ticksGoOn(t, 3);
            Path img = tmp.resolve("img");
            Checkpoint.dump(dump(t.pid(), img, false));
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            List<tty_info_entry> infos = ImageFile.read(img.resolve(Tty.INFO_IMAGE)).entries(tty_info_entry.class);
            assertEquals(2, infos.size(), infos.toString());
            tty_info_entry master = infos.stream().filter(i -> (i.getId() & 1) == 1).findFirst().orElseThrow();
            assertEquals(TtyType.PTY, master.getType());
            assertEquals(child, master.getSid(), "the child's session is the terminal's: " + infos);
            assertEquals(33, master.getWinsize().getWsRow());
            DeletedFilesTest.critDecodes(img, Tty.INFO_IMAGE, "files.img");

            assertEquals(0, Checkpoint.restore(new RestoreOptions(img, true, false, true, null, null)));
            assertTrue(t.alive());
            ticksGoOn(t, 5);
            assertEquals(child, Tty.controllingTerminal(child)[1], "the child's session has the terminal again");
        }
    }

    @Test
    void slaveWhoseMasterIsOutsideNeedsShellJob() throws Exception {
        try (Target t = start()) {
            int child = childOf(t);
            Path img = Files.createDirectories(tmp.resolve("img"));
            String m = assertThrows(CryoException.class, () -> Checkpoint.dump(dump(child, img, false))).getMessage();
            assertTrue(m.contains("pid " + child) && m.contains("fd 0") && m.contains("/dev/pts/")
                    && m.contains("-j/--shell-job"), m);
            ticksGoOn(t, 3); // the child runs on
        }
    }

    @Test
    void indexTakenMeanwhileFailsTheRestoreCleanly() throws Exception {
        try (Target t = start()) {
            Path img = tmp.resolve("img");
            Checkpoint.dump(dump(t.pid(), img, false));
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            int index = ImageFile.read(img.resolve(Tty.INFO_IMAGE)).entries(tty_info_entry.class).get(0).getPty()
                    .getIndex();
            List<Integer> held = new ArrayList<>();
            try {
                int got = -1;
                while (got < index) { // the kernel gives the lowest free index: hold the ones below too
                    int fd = open("/dev/ptmx");
                    held.add(fd);
                    got = Tty.ioctlInt(fd, Tty.TIOCGPTN);
                }
                assertEquals(index, got, "index " + index + " taken by the test");
                String m = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
                assertTrue(m.contains("cannot restore pid ") && m.contains("pty index " + index + " is in use"), m);
                assertFalse(t.alive(), "no half-restored pid " + t.pid());
            } finally {
                held.forEach(fd -> Syscall.raw(Syscall.CLOSE, fd));
            }
            assertEquals(0, Checkpoint.restore(img), "restores once the index is free");
            ticksGoOn(t, 3);
        }
    }

    private static int open(String path) throws Exception {
        byte[] b = (path + "\0").getBytes(StandardCharsets.UTF_8);
        NativeBuffer s = NativeBuffer.allocate(b.length);
        s.put(0, b);
        return (int) Syscall.call("open " + path, Syscall.OPENAT, -100, s.address(),
                RegularFile.O_RDWR | RegularFile.O_NOCTTY | RegularFile.O_CLOEXEC, 0);
    }

    @Test
    void criu42ReadsTheImagesWhereItsCritRuns() throws Exception {
        Path crit = Path.of("/work/shared/anchors/criu-4.2/crit");
        Process probe = Files.isExecutable(crit) ? new ProcessBuilder(crit.toString(), "--help")
                .redirectErrorStream(true).start() : null;
        boolean runs = probe != null && probe.waitFor(60, TimeUnit.SECONDS) && probe.exitValue() == 0;
        if (!runs) {
            System.out.println("CRIU 4.2's crit not checked: " + crit + " is missing or does not run here");
            return;
        }
        try (Target t = start()) {
            Path img = tmp.resolve("img");
            Checkpoint.dump(dump(t.pid(), img, false));
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            for (String image : List.of(Tty.INFO_IMAGE, "files.img")) {
                Process p = new ProcessBuilder(crit.toString(), "decode", "-i", img.resolve(image).toString())
                        .redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes());
                assertTrue(p.waitFor(60, TimeUnit.SECONDS), "crit decode " + image + " ends");
                assertEquals(0, p.exitValue(), "CRIU 4.2's crit decode " + image + ": " + out);
            }
        }
    }
}
