package dev.cryo.engine.rpc;

import dev.cryo.engine.rpc.SwrkClient.Notification;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.rpc.criu_opts;
import dev.cryo.image.rpc.criu_req;
import dev.cryo.image.rpc.criu_req_type;
import dev.cryo.image.rpc.criu_resp;
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

/** A counting loop checkpointed and restored through {@code cryo swrk}, the way runc drives CRIU. */
@RootWithPtrace
class SwrkDumpRestoreTest {
    @TempDir
    Path tmp;

    static criu_opts.Builder opts(int dirFd, String log) {
        return criu_opts.newBuilder().setImagesDirFd(dirFd).setLogFile(log).setLogLevel(4).setShellJob(true)
                .setNotifyScripts(true);
    }

    static void assertCounts(List<String> lines) {
        for (int i = 0; i < lines.size(); i++) {
            assertEquals(Integer.toString(i), lines.get(i), "line " + i + " of " + lines);
        }
    }

    @Test
    void counterIsDumpedAndRestoredWithNotificationsInCriusOrder() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        Path img = Files.createDirectories(tmp.resolve("img"));
        int dirFd = SwrkClient.openDirectory(img);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            List<Notification> seen = new ArrayList<>();
            criu_resp dumped;
            try (SwrkClient swrk = SwrkClient.start()) {
                dumped = swrk.callWithNotifications(criu_req.newBuilder().setType(criu_req_type.DUMP)
                        .setOpts(opts(dirFd, "dump.log").setPid(t.pid())).build(), seen, s -> true);
            }
            assertEquals(criu_req_type.DUMP, dumped.getType());
            assertTrue(dumped.getSuccess(), dumped.getCrErrmsg());
            assertEquals(List.of("pre-dump", "network-lock", "post-dump"), SwrkClient.scripts(seen));
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            int before = t.lines().size();

            seen.clear();
            criu_resp restored;
            try (SwrkClient swrk = SwrkClient.start()) {
                restored = swrk.callWithNotifications(criu_req.newBuilder().setType(criu_req_type.RESTORE)
                        .setOpts(opts(dirFd, "restore.log").setRstSibling(true)).build(), seen, s -> true);
            }
            assertTrue(restored.getSuccess(), restored.getCrErrmsg());
            assertEquals(criu_req_type.RESTORE, restored.getType());
            assertEquals(t.pid(), restored.getRestore().getPid(), "the restored root keeps its pid");
            assertEquals(List.of("pre-restore", "setup-namespaces", "post-setup-namespaces", "post-restore",
                    "network-unlock", "pre-resume", "post-resume"), SwrkClient.scripts(seen));
            for (Notification n : seen) {
                boolean carriesPid = n.script().equals("setup-namespaces") || n.script().equals("post-restore");
                assertEquals(carriesPid ? t.pid() : 0, n.pid(), n.script() + "'s pid, as runc reads it");
            }
            assertTrue(t.alive(), "restored pid " + t.pid() + " runs");
            t.awaitLines(before + 5);
            assertCounts(t.lines());
        } finally {
            SwrkClient.closeFd(dirFd);
        }
    }

    @Test
    void leaveRunningUnlocksTheNetworkAndTheCounterGoesOn() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        Path img = Files.createDirectories(tmp.resolve("img"));
        int dirFd = SwrkClient.openDirectory(img);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            List<Notification> seen = new ArrayList<>();
            try (SwrkClient swrk = SwrkClient.start()) {
                criu_resp resp = swrk.callWithNotifications(criu_req.newBuilder().setType(criu_req_type.DUMP)
                        .setOpts(opts(dirFd, "dump.log").setPid(t.pid()).setLeaveRunning(true)).build(), seen, s -> true);
                assertTrue(resp.getSuccess(), resp.getCrErrmsg());
            }
            assertEquals(List.of("pre-dump", "network-lock", "post-dump", "network-unlock"), SwrkClient.scripts(seen));
            int now = t.lines().size();
            t.awaitLines(now + 3);
            assertTrue(t.alive());
            assertTrue(Files.exists(img.resolve("inventory.img")));
        } finally {
            SwrkClient.closeFd(dirFd);
        }
    }

    @Test
    void aFailedNotificationAbortsTheDumpAndTheTargetRunsOn() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        Path img = Files.createDirectories(tmp.resolve("img"));
        int dirFd = SwrkClient.openDirectory(img);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            List<Notification> seen = new ArrayList<>();
            try (SwrkClient swrk = SwrkClient.start()) {
                criu_resp resp = swrk.callWithNotifications(criu_req.newBuilder().setType(criu_req_type.DUMP)
                        .setOpts(opts(dirFd, "dump.log").setPid(t.pid())).build(), seen, s -> !s.equals("post-dump"));
                assertEquals(criu_req_type.DUMP, resp.getType());
                assertFalse(resp.getSuccess());
                assertTrue(resp.getCrErrmsg().contains("post-dump"), resp.getCrErrmsg());
            }
            assertEquals(List.of("pre-dump", "network-lock", "post-dump", "network-unlock"), SwrkClient.scripts(seen));
            int now = t.lines().size();
            t.awaitLines(now + 3);
            assertTrue(t.alive(), "a failed dump leaves the target running");
            assertCounts(t.lines());
        } finally {
            SwrkClient.closeFd(dirFd);
        }
    }

    @Test
    void preDumpThenDumpOnOneConnectionAndTheChainRestores() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        Path pre = Files.createDirectories(tmp.resolve("pre"));
        Path img = Files.createDirectories(tmp.resolve("img"));
        int preFd = SwrkClient.openDirectory(pre);
        int dirFd = SwrkClient.openDirectory(img);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            try (SwrkClient swrk = SwrkClient.start()) {
                criu_resp p = swrk.call(SwrkClient.request(criu_req_type.PRE_DUMP, opts(preFd, "pre.log")
                        .setPid(t.pid()).setTrackMem(true).setNotifyScripts(false)));
                assertEquals(criu_req_type.PRE_DUMP, p.getType());
                assertTrue(p.getSuccess(), p.getCrErrmsg());
                assertTrue(t.alive(), "a pre-dump leaves the target running");
                List<Notification> seen = new ArrayList<>();
                criu_resp d = swrk.callWithNotifications(SwrkClient.request(criu_req_type.DUMP, opts(dirFd, "dump.log")
                        .setPid(t.pid()).setTrackMem(true).setParentImg("../pre")), seen, s -> true);
                assertTrue(d.getSuccess(), d.getCrErrmsg());
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            int before = t.lines().size();
            try (SwrkClient swrk = SwrkClient.start()) {
                criu_resp r = swrk.call(SwrkClient.request(criu_req_type.RESTORE,
                        opts(dirFd, "restore.log").setNotifyScripts(false)));
                assertTrue(r.getSuccess(), r.getCrErrmsg());
                assertEquals(t.pid(), r.getRestore().getPid());
            }
            t.awaitLines(before + 5);
            assertCounts(t.lines());
        } finally {
            SwrkClient.closeFd(preFd);
            SwrkClient.closeFd(dirFd);
        }
    }
}
