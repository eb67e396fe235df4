package dev.cryo.engine;

import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A FIFO the tree's tasks share (opened before a fork) comes back shared, with its bytes in flight; one a process
 * outside the tree holds too is refused, naming that process.
 */
@RootWithPtrace
class FifoTreeTest {
    @TempDir
    Path tmp;

    private Target shell(Path fifo, String name) throws Exception {
        Path script = Files.writeString(tmp.resolve(name + ".sh"), "exec 3<>'" + fifo + "'\necho hello >&3\n"
                + "sleep 1000 &\necho ready $!\nwait\n");
        Target t = Target.start(Path.of("/bin/bash"), tmp.resolve(name + ".out"), script.toString());
        t.awaitLines(1);
        return t;
    }

    private static int child(Target shell) throws Exception {
        return Integer.parseInt(shell.lines().get(0).split(" ")[1]);
    }

    private static String fd3(int pid) throws Exception {
        return Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/3")).toString();
    }

    @Test
    void aFifoSharedInTheTreeComesBackSharedWithItsBytes() throws Exception {
        Path fifo = tmp.resolve("f");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        try (Target t = shell(fifo, "tree")) {
            int child = child(t);
            try (Target c = Target.adopt(child, t.out())) {
                Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
                await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive() && !c.alive());
                Checkpoint.restore(tmp.resolve("img"));
                assertEquals(fifo.toString(), fd3(t.pid()));
                assertEquals(fifo.toString(), fd3(child), "the child holds it too");
                // the byte in flight, read through a new reader of the same FIFO
                Process cat = new ProcessBuilder("timeout", "5", "head", "-c", "6", fifo.toString()).start();
                assertEquals("hello\n", new String(cat.getInputStream().readAllBytes()));
            }
        }
    }

    @Test
    void aFifoAProcessOutsideTheTreeHoldsIsRefused() throws Exception {
        Path fifo = tmp.resolve("f");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        try (Target outside = shell(fifo, "outside"); Target t = shell(fifo, "tree");
             Target outsideChild = Target.adopt(child(outside), outside.out());
             Target treeChild = Target.adopt(child(t), t.out())) {
            var e = assertThrows(CryoException.class, () -> Checkpoint.dump(t.pid(), tmp.resolve("img"), true));
            assertTrue(e.getMessage().contains("FIFO " + fifo) && e.getMessage().contains("outside the dumped tree")
                    && List.of(outside.pid(), outsideChild.pid()).stream()
                    .anyMatch(p -> e.getMessage().contains("process " + p + " ")), e.getMessage());
            assertTrue(t.alive() && treeChild.alive(), "left running");
        }
    }
}
