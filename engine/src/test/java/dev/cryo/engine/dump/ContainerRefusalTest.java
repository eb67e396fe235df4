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
 * A pid namespace's init (pid 1 of its own pid namespace, as {@code unshare --pid --fork} starts it): its images are
 * written as CRIU writes a container's (pids inside the namespace, the namespace's own id), with --leave-running it
 * runs on, and without it the restore brings it back as pid 1 of a new pid namespace (engine/docs/containers.md).
 */
@RootWithPtrace
class ContainerRefusalTest {
    @TempDir
    Path tmp;

    /** Starts {@code unshare --pid --fork sleep 600} and gives its sleep, pid 1 of the new namespace, to {@code test}. */
    private static void withInitOfItsOwnPidNamespace(ThrowingIntConsumer test) throws Exception {
        inPidNamespace((unshare, sleep) -> {
            await().atMost(Duration.ofSeconds(20)).until(() ->
                    Files.readString(Path.of("/proc/" + sleep + "/comm")).strip().equals("sleep"));
            test.accept(sleep);
        }, "sleep", "600");
    }

    /**
     * Starts {@code unshare --pid --fork COMMAND} and gives {@code test} the unshare process's pid and its child's, pid 1
     * of the new namespace; both are killed after.
     */
    private static void inPidNamespace(ThrowingPidsConsumer test, String... command) throws Exception {
        java.util.List<String> argv = new java.util.ArrayList<>(java.util.List.of("unshare", "--pid", "--fork"));
        argv.addAll(java.util.List.of(command));
        Process unshare;
        try {
            unshare = new ProcessBuilder(argv).start();
        } catch (java.io.IOException e) {
            System.out.println("SKIPPED: unshare (util-linux) is not installed");
            assumeTrue(false, "unshare (util-linux) is not installed");
            return;
        }
        try {
            Path children = Path.of("/proc", Long.toString(unshare.pid()), "task", Long.toString(unshare.pid()), "children");
            await().atMost(Duration.ofSeconds(20)).until(() -> !Files.readString(children).isBlank());
            int init = Integer.parseInt(Files.readString(children).strip().split("\\s+")[0]);
            test.accept((int) unshare.pid(), init);
        } finally {
            unshare.descendants().forEach(ProcessHandle::destroyForcibly); // the namespace's init first
            unshare.destroyForcibly();
            unshare.waitFor(20, TimeUnit.SECONDS);
        }
    }

    interface ThrowingPidsConsumer {
        void accept(int unshare, int init) throws Exception;
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
    void initOfItsOwnPidNamespaceIsDumpedAndRestoredAsPidOne() throws Exception {
        withInitOfItsOwnPidNamespace(sleep -> {
            DumpOptions options = new DumpOptions(sleep, tmp, false, false, false, false, false, false, null, null,
                    Duration.ofSeconds(10));
            Dumper.dump(options, Log.discard());
            await().atMost(Duration.ofSeconds(20)).until(() -> !Files.exists(Path.of("/proc/" + sleep)));
            int restored;
            try (Log log = Log.toFile(tmp.resolve("restore.log"), 4)) {
                restored = dev.cryo.engine.restore.Restorer.restoreTree(
                        new dev.cryo.engine.restore.RestoreOptions(tmp, true, false, false, null, null), log,
                        dev.cryo.engine.ActionScripts.NONE);
            }
            try {
                String status = Files.readString(Path.of("/proc/" + restored + "/status"));
                assertTrue(status.contains("NSpid:\t" + restored + "\t1"), "pid 1 of a new pid namespace: " + status);
                assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/pid")),
                        Files.readSymbolicLink(Path.of("/proc/" + restored + "/ns/pid")));
                assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/mnt")),
                        Files.readSymbolicLink(Path.of("/proc/" + restored + "/ns/mnt")), "the host's mounts, as dumped");
                assertRunsUntraced(restored);
                assertEquals("sleep", Files.readString(Path.of("/proc/" + restored + "/comm")).strip());
            } finally {
                ProcessHandle.of(restored).ifPresent(ProcessHandle::destroyForcibly);
                dev.cryo.engine.testing.Reaper.reap(restored);
            }
        });
    }

    @Test
    void rootIsRefusedForImagesWithoutAMountNamespaceOfTheirOwn() throws Exception {
        withInitOfItsOwnPidNamespace(sleep -> {
            DumpOptions options = new DumpOptions(sleep, tmp, false, true, false, false, false, false, null, null,
                    Duration.ofSeconds(10));
            Dumper.dump(options, Log.discard());
            long children = ProcessHandle.current().children().count();
            var restore = new dev.cryo.engine.restore.RestoreOptions(tmp, true, false, false, null, null)
                    .withContainer(tmp, 0);
            CryoException e = assertThrows(CryoException.class, () -> dev.cryo.engine.restore.Restorer.restoreTree(
                    restore, Log.discard(), dev.cryo.engine.ActionScripts.NONE));
            assertTrue(e.getMessage().contains("--root") && e.getMessage().contains("mount namespace"), e.getMessage());
            assertEquals(children, ProcessHandle.current().children().count(), "nothing was made");
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

    /**
     * A container's init that forks all the time (a shell loop's {@code sleep}): a child that exits between the tree's
     * listing and the read of its pids inside failed the dump ("cannot read /proc/INIT/task/CHILD/status"), where a
     * plain tree's dump lets it go. Dumped again and again, leaving it running, every dump succeeds.
     */
    @Test
    void aChildThatExitsWhileTheContainerIsListedLeavesTheTree() throws Exception {
        inPidNamespace((unshare, init) -> {
            for (int i = 0; i < 8; i++) {
                Path dir = Files.createDirectory(tmp.resolve("dump-" + i));
                DumpOptions options = new DumpOptions(init, dir, false, true, false, false, false, false, null, null,
                        Duration.ofSeconds(10));
                Dumper.dump(options, Log.discard());
                assertTrue(Files.exists(dir.resolve("core-1.img")), "dump " + i + " holds the init as pid 1");
            }
            assertRunsUntraced(init);
        }, "sh", "-c", "while :; do sleep 0.001; done");
    }

    /**
     * {@code unshare --pid --fork}'s own process is no container's init: its child is. The refusal says which pid to
     * dump instead, and leaves both running untraced.
     */
    @Test
    void theParentOfANamespacesInitIsRefusedNamingTheInitToDump() throws Exception {
        inPidNamespace((unshare, init) -> {
            DumpOptions options = new DumpOptions(unshare, tmp, false, true, false, false, false, false, null, null,
                    Duration.ofSeconds(10));
            dev.cryo.engine.CryoException e = org.junit.jupiter.api.Assertions.assertThrows(
                    dev.cryo.engine.CryoException.class, () -> Dumper.dump(options, Log.discard()));
            assertTrue(e.getMessage().contains("pid " + init + " (in the tree of " + unshare + ")")
                    && e.getMessage().contains("dump -t " + init), e.getMessage());
            assertRunsUntraced(init);
            assertRunsUntraced(unshare);
        }, "sleep", "600");
    }
}
