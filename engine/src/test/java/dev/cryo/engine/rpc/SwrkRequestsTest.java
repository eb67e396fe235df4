package dev.cryo.engine.rpc;

import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.image.rpc.criu_features;
import dev.cryo.image.rpc.criu_opts;
import dev.cryo.image.rpc.criu_req;
import dev.cryo.image.rpc.criu_req_type;
import dev.cryo.image.rpc.criu_resp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every request type of CRIU's RPC, sent to {@code cryo swrk} by a client built from the same rpc.proto. */
@RootWithPtrace
class SwrkRequestsTest {
    @TempDir
    Path tmp;

    @Test
    void versionNamesTheCriuReleaseWhoseBehaviourCryoFollows() throws Exception {
        try (SwrkClient swrk = SwrkClient.start()) {
            criu_resp resp = swrk.call(SwrkClient.request(criu_req_type.VERSION));
            assertEquals(criu_req_type.VERSION, resp.getType());
            assertTrue(resp.getSuccess());
            int v = resp.getVersion().getMajorNumber() * 10000 + resp.getVersion().getMinorNumber() * 100
                    + resp.getVersion().getSublevel();
            assertEquals(40200, v, "CRIU 4.2");
            assertTrue(v >= 31500, "runc's newest version check (external pid namespaces, 3.15) passes");
            assertNull(swrk.receive(), "one request without keep_open: swrk is done");
            assertEquals(0, swrk.finish(), "swrk exits 0");
        }
    }

    @Test
    void featureCheckAnswersExactlyWhatWasAsked() throws Exception {
        try (SwrkClient swrk = SwrkClient.start()) {
            criu_resp resp = swrk.call(criu_req.newBuilder().setType(criu_req_type.FEATURE_CHECK)
                    .setFeatures(criu_features.newBuilder().setMemTrack(true).setLazyPages(true)).build());
            assertTrue(resp.getSuccess());
            assertTrue(resp.getFeatures().hasMemTrack() && resp.getFeatures().getMemTrack(),
                    "memory tracking is there (runc asks before a pre-dump)");
            assertTrue(resp.getFeatures().hasLazyPages() && !resp.getFeatures().getLazyPages(), "no lazy pages");
            assertFalse(resp.getFeatures().hasPidfdStore(), "not asked, not answered");
        }
    }

    @Test
    void checkSucceedsOnAKernelCryoCanWorkWith() throws Exception {
        try (SwrkClient swrk = SwrkClient.start()) {
            criu_resp resp = swrk.call(SwrkClient.request(criu_req_type.CHECK));
            assertEquals(criu_req_type.CHECK, resp.getType());
            boolean expected = new dev.cryo.engine.check.KernelCheck()
                    .report(dev.cryo.engine.check.Feature.listed(false)).canDumpAndRestore();
            assertEquals(expected, resp.getSuccess(), resp.getCrErrmsg());
        }
    }

    @Test
    void keepOpenServesSeveralRequestsOnOneConnection() throws Exception {
        try (SwrkClient swrk = SwrkClient.start()) {
            criu_req version = criu_req.newBuilder().setType(criu_req_type.VERSION).setKeepOpen(true).build();
            assertTrue(swrk.call(version).getSuccess());
            criu_resp features = swrk.call(criu_req.newBuilder().setType(criu_req_type.FEATURE_CHECK).setKeepOpen(true)
                    .setFeatures(criu_features.newBuilder().setMemTrack(true)).build());
            assertEquals(criu_req_type.FEATURE_CHECK, features.getType());
            assertEquals(criu_req_type.VERSION, swrk.call(SwrkClient.request(criu_req_type.VERSION)).getType());
            assertNull(swrk.receive(), "the last request had no keep_open");
        }
    }

    @Test
    void requestsCryoCannotServeGetCriusErrorReply() throws Exception {
        for (criu_req_type type : List.of(criu_req_type.PAGE_SERVER, criu_req_type.CPUINFO_DUMP,
                criu_req_type.NOTIFY)) {
            try (SwrkClient swrk = SwrkClient.start()) {
                criu_resp resp = swrk.call(SwrkClient.request(type, criu_opts.newBuilder().setImagesDirFd(-1)));
                assertNotNull(resp, type + ": answered, not dropped");
                assertFalse(resp.getSuccess(), type.toString());
                assertFalse(resp.getCrErrmsg().isEmpty(), type + " says why");
                assertTrue(resp.hasCrErrno(), type + " carries an errno");
                assertEquals(0, swrk.finish(), "swrk exits cleanly after refusing " + type);
            }
        }
    }

    @Test
    void aRecordThatIsNoRequestGetsAnErrorReply() throws Exception {
        try (SwrkClient swrk = SwrkClient.start()) {
            swrk.sendRaw(new byte[]{(byte) 0xff, 0x01, 0x02});
            criu_resp resp = swrk.receive();
            assertNotNull(resp);
            assertEquals(criu_req_type.EMPTY, resp.getType());
            assertFalse(resp.getSuccess());
            assertTrue(resp.getCrErrmsg().contains("criu_req"), resp.getCrErrmsg());
        }
    }

    @Test
    void dumpOfAMissingPidFailsWithAMessageNamingIt() throws Exception {
        Path img = Files.createDirectories(tmp.resolve("img"));
        int dirFd = SwrkClient.openDirectory(img);
        try (SwrkClient swrk = SwrkClient.start()) {
            criu_resp resp = swrk.call(SwrkClient.request(criu_req_type.DUMP, criu_opts.newBuilder()
                    .setImagesDirFd(dirFd).setPid(0x3ffffff0).setLogFile("dump.log").setLogLevel(4)));
            assertEquals(criu_req_type.DUMP, resp.getType());
            assertFalse(resp.getSuccess());
            assertTrue(resp.getCrErrmsg().contains(Integer.toString(0x3ffffff0)), resp.getCrErrmsg());
            assertTrue(Files.exists(img.resolve("dump.log")), "log_file is written in the images directory");
        } finally {
            SwrkClient.closeFd(dirFd);
        }
    }

    @Test
    void aBadImagesDirFdIsRefusedByName() throws Exception {
        try (SwrkClient swrk = SwrkClient.start()) {
            criu_resp resp = swrk.call(SwrkClient.request(criu_req_type.DUMP,
                    criu_opts.newBuilder().setImagesDirFd(987).setPid(1)));
            assertFalse(resp.getSuccess());
            assertTrue(resp.getCrErrmsg().contains("images_dir_fd 987"), resp.getCrErrmsg());
        }
    }

    @Test
    void restoreOptionsCryoCannotHonourAreRefusedBeforeAnythingIsTouched() throws Exception {
        Path img = Files.createDirectories(tmp.resolve("img"));
        int dirFd = SwrkClient.openDirectory(img);
        try (SwrkClient swrk = SwrkClient.start()) {
            criu_resp resp = swrk.call(SwrkClient.request(criu_req_type.RESTORE, criu_opts.newBuilder()
                    .setImagesDirFd(dirFd).setLazyPages(true)));
            assertEquals(criu_req_type.RESTORE, resp.getType());
            assertFalse(resp.getSuccess());
            assertTrue(resp.getCrErrmsg().contains("lazy_pages"), resp.getCrErrmsg());
            assertEquals(95, resp.getCrErrno());
        } finally {
            SwrkClient.closeFd(dirFd);
        }
    }

    @Test
    void waitPidOfAPidThatIsNoChildFails() throws Exception {
        try (SwrkClient swrk = SwrkClient.start()) {
            criu_resp resp = swrk.call(criu_req.newBuilder().setType(criu_req_type.WAIT_PID).setPid(1).build());
            assertEquals(criu_req_type.WAIT_PID, resp.getType());
            assertFalse(resp.getSuccess());
            assertEquals(10 /* ECHILD */, resp.getCrErrno());
        }
    }
}
