package dev.cryo.engine.rpc;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.rpc.criu_req;
import dev.cryo.image.rpc.criu_req_type;
import dev.cryo.image.rpc.criu_resp;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RPC {@code freeze_cgroup}, as runc and Podman send it: a DUMP freezes through that cgroup (the counter goes on
 * after {@code leave_running}, the cgroup thawed), and a cgroup holding a task outside the tree gets CRIU's error
 * reply naming the task, with the counter running on untouched.
 */
@RootWithPtrace
class SwrkFreezeCgroupTest {
    @TempDir
    Path tmp;

    private static Path freezerRoot() {
        Path root = Path.of("/sys/fs/cgroup/freezer");
        boolean v1 = Files.exists(root.resolve("tasks")) && !Files.exists(root.resolve("cgroup.freeze"));
        if (!v1) {
            System.out.println("SKIPPED: no cgroup v1 freezer hierarchy at " + root);
        }
        Assumptions.assumeTrue(v1, "no cgroup v1 freezer hierarchy at " + root);
        return root;
    }

    /** {@code exe args} started as a process of the cgroup {@code cg} from its first instruction. */
    private static Target startIn(Path cg, Path out, String... command) throws Exception {
        return Target.start(Path.of("/bin/sh"), out, "-c",
                "echo $$ > " + cg.resolve("cgroup.procs") + " && exec " + String.join(" ", command));
    }

    @Test
    void aDumpFreezesThroughTheCgroupAndAStrangerInItIsRefusedByName() throws Exception {
        Path cg = Files.createDirectory(freezerRoot().resolve("cryo-test-swrk-" + ProcessHandle.current().pid()));
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        List<Target> started = new ArrayList<>();
        int dirFd = -1;
        try {
            Target t = startIn(cg, tmp.resolve("out.txt"), exe.toString());
            started.add(t);
            t.awaitLines(3);
            Path img = Files.createDirectories(tmp.resolve("img"));
            dirFd = SwrkClient.openDirectory(img);
            try (SwrkClient swrk = SwrkClient.start()) {
                criu_resp resp = swrk.callWithNotifications(criu_req.newBuilder().setType(criu_req_type.DUMP)
                        .setOpts(SwrkDumpRestoreTest.opts(dirFd, "dump.log").setPid(t.pid()).setLeaveRunning(true)
                                .setFreezeCgroup(cg.toString())).build(), new ArrayList<>(), s -> true);
                assertTrue(resp.getSuccess(), resp.getCrErrmsg());
            }
            assertTrue(Files.readString(img.resolve("dump.log")).contains("through freezer cgroup " + cg));
            assertEquals("THAWED", Files.readString(cg.resolve("freezer.state")).strip());
            t.awaitLines(t.lines().size() + 3);

            Target stranger = startIn(cg, tmp.resolve("stranger.txt"), "sleep", "1000");
            started.add(stranger);
            await().atMost(Duration.ofSeconds(10)).until(() -> Files.readAllLines(cg.resolve("tasks"))
                    .contains(Integer.toString(stranger.pid())));
            try (SwrkClient swrk = SwrkClient.start()) {
                criu_resp resp = swrk.callWithNotifications(criu_req.newBuilder().setType(criu_req_type.DUMP)
                        .setOpts(SwrkDumpRestoreTest.opts(dirFd, "dump2.log").setPid(t.pid())
                                .setFreezeCgroup(cg.toString())).build(), new ArrayList<>(), s -> true);
                assertEquals(criu_req_type.DUMP, resp.getType());
                assertFalse(resp.getSuccess());
                assertTrue(resp.getCrErrmsg().contains("freezer cgroup " + cg + " holds pid " + stranger.pid()
                        + " (sleep), which is not in the tree of pid " + t.pid()), resp.getCrErrmsg());
            }
            assertEquals("THAWED", Files.readString(cg.resolve("freezer.state")).strip());
            t.awaitLines(t.lines().size() + 3);
            assertTrue(t.alive(), "the refused dump left the counter running");
            SwrkDumpRestoreTest.assertCounts(t.lines());
        } finally {
            if (dirFd >= 0) {
                SwrkClient.closeFd(dirFd);
            }
            Files.writeString(cg.resolve("freezer.state"), "THAWED");
            started.forEach(Target::close);
            await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> {
                Files.delete(cg);
                return true;
            });
        }
    }
}
