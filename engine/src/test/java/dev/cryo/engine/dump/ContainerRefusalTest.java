package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.testing.RootWithPtrace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.pstree_entry;

import java.nio.file.Files;
import java.util.List;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A container's init (pid 1 of its own pid namespace, as runc starts it): Cryo cannot restore one yet, so a dump that
 * would end it is refused before it is touched; with --leave-running its images are written as CRIU writes a
 * container's (pids inside the namespace, the namespace's own id) and it runs on.
 */
@RootWithPtrace
class ContainerRefusalTest {
    @TempDir
    Path tmp;

    /** Starts {@code unshare --pid --fork sleep 600} and gives its sleep, pid 1 of the new namespace, to {@code test}. */
    private static void withInitOfItsOwnPidNamespace(ThrowingIntConsumer test) throws Exception {
        Process unshare;
        try {
            unshare = new ProcessBuilder("unshare", "--pid", "--fork", "sleep", "600").start();
        } catch (java.io.IOException e) {
            System.out.println("SKIPPED: unshare (util-linux) is not installed");
            assumeTrue(false, "unshare (util-linux) is not installed");
            return;
        }
        try {
            Path children = Path.of("/proc", Long.toString(unshare.pid()), "task", Long.toString(unshare.pid()), "children");
            await().atMost(Duration.ofSeconds(20)).until(() -> !Files.readString(children).isBlank());
            int sleep = Integer.parseInt(Files.readString(children).strip().split("\\s+")[0]);
            await().atMost(Duration.ofSeconds(20)).until(() ->
                    Files.readString(Path.of("/proc/" + sleep + "/comm")).strip().equals("sleep"));
            test.accept(sleep);
        } finally {
            unshare.descendants().forEach(ProcessHandle::destroyForcibly); // the namespace's init first
            unshare.destroyForcibly();
            unshare.waitFor(20, TimeUnit.SECONDS);
        }
    }

    interface ThrowingIntConsumer {
        void accept(int value) throws Exception;
    }

    private static void assertRunsUntraced(int pid) throws java.io.IOException {
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "it runs on");
        assertTrue(Files.readString(Path.of("/proc/" + pid + "/status")).lines()
                .anyMatch(l -> l.startsWith("TracerPid:") && l.endsWith("\t0")), "and nothing traces it");
    }

    @Test
    void initOfItsOwnPidNamespaceIsRefusedAndRunsOn() throws Exception {
        withInitOfItsOwnPidNamespace(sleep -> {
            DumpOptions options = new DumpOptions(sleep, tmp, false, false, false, false, false, false, null, null,
                    Duration.ofSeconds(10));
            CryoException e = assertThrows(CryoException.class, () -> Dumper.dump(options, Log.discard()));
            assertTrue(e.getMessage().contains("pid namespace of its own") && e.getMessage().contains(sleep + " 1")
                    && e.getMessage().contains("--leave-running"), e.getMessage());
            assertRunsUntraced(sleep);
        });
    }

    @Test
    void leaveRunningWritesItWithThePidsInsideItsNamespace() throws Exception {
        withInitOfItsOwnPidNamespace(sleep -> {
            DumpOptions options = new DumpOptions(sleep, tmp, false, true, false, false, false, false, null, null,
                    Duration.ofSeconds(10));
            Dumper.dump(options, Log.discard());
            assertRunsUntraced(sleep);
            ImageDir dir = ImageDir.open(tmp);
            List<pstree_entry> tree = dir.pstree();
            assertEquals(1, tree.size());
            assertEquals(List.of(1, 0, 1), List.of(tree.get(0).getPid(), tree.get(0).getPpid(), tree.get(0).getThreads(0)),
                    "pid 1 inside, no parent in the images, its one thread 1");
            assertTrue(Files.exists(tmp.resolve("core-1.img")) && Files.exists(tmp.resolve("mm-1.img"))
                    && !Files.exists(tmp.resolve("core-" + sleep + ".img")), "images named by the pid inside");
            var ids = dir.ids(1);
            var dumper = dir.inventory().getRootIds();
            assertNotEquals(dumper.getPidNsId(), ids.getPidNsId(), "a pid namespace of its own");
            assertEquals(dumper.getMntNsId(), ids.getMntNsId(), "the host's mount namespace (unshare --pid only)");
            assertEquals(dumper.getNetNsId(), ids.getNetNsId());
        });
    }
}
