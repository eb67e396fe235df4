package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static dev.cryo.engine.CounterRoundTripTest.assertCounts;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A process its owner froze with the cgroup v1 freezer, as containerd pauses a container before it asks runc for a
 * checkpoint ({@code docker checkpoint create}): the dump thaws the cgroup for its ptrace freeze (a task frozen by
 * the cgroup never reaches a ptrace stop; the dump used to wait for ever) and freezes it again before it lets the
 * tree go, so the owner finds it as it left it. A dump that kills the tree leaves the cgroup thawed (the kill must
 * reach the tasks), and its images restore: the count goes on. engine/docs/containers.md, section Docker.
 */
@RootWithPtrace
class FrozenCgroupTest {
    private static final Path FREEZER = Path.of("/sys/fs/cgroup/freezer");

    @TempDir
    Path tmp;

    private Path cgroup;

    @BeforeEach
    void needTheV1Freezer() throws IOException {
        boolean v1 = Files.isRegularFile(FREEZER.resolve("tasks"));
        if (!v1) {
            System.out.println("SKIPPED: no cgroup v1 freezer hierarchy at " + FREEZER + " (cgroup v2 only)");
        }
        assumeTrue(v1, "no cgroup v1 freezer hierarchy at " + FREEZER);
        cgroup = Files.createDirectory(FREEZER.resolve("cryo-frozen-test-" + ProcessHandle.current().pid()));
    }

    @AfterEach
    void removeTheCgroup() throws IOException {
        if (cgroup == null) {
            return;
        }
        Files.writeString(cgroup.resolve("freezer.state"), "THAWED"); // a task left frozen could not be killed
        for (String p : Files.readAllLines(cgroup.resolve("cgroup.procs"))) {
            ProcessHandle.of(Long.parseLong(p.strip())).ifPresent(ProcessHandle::destroyForcibly);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.readString(cgroup.resolve("cgroup.procs")).isBlank());
        Files.delete(cgroup);
    }

    private String state() throws IOException {
        return Files.readString(cgroup.resolve("freezer.state")).strip();
    }

    private void freeze() throws IOException {
        Files.writeString(cgroup.resolve("freezer.state"), "FROZEN");
        await().atMost(Duration.ofSeconds(20)).until(() -> state().equals("FROZEN"));
    }

    /** Dumps on another thread: a dump that waits for ever must fail the test, not hang it (the cgroup is thawed after). */
    private void dumpWithin(int pid, Path dir, boolean leaveRunning) throws Exception {
        CompletableFuture<Void> dump = CompletableFuture.runAsync(() -> {
            try {
                Checkpoint.dump(pid, dir, leaveRunning);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        try {
            dump.get(120, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            Files.writeString(cgroup.resolve("freezer.state"), "THAWED"); // lets the stuck dump end
            throw new AssertionError("the dump of pid " + pid + " in a frozen cgroup did not end in 120 s", e);
        }
    }

    @Test
    void aTreeFrozenByItsCgroupIsDumpedAndLeftFrozen() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(5_000));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            Files.writeString(cgroup.resolve("cgroup.procs"), Integer.toString(t.pid()));
            freeze();

            dumpWithin(t.pid(), tmp.resolve("img1"), true);
            assertTrue(t.alive(), "pid " + t.pid() + " still there after -R");
            assertEquals("FROZEN", state(), "the cgroup frozen again, as its owner left it");
            String log = Files.readString(tmp.resolve("img1/dump.log"));
            assertTrue(log.contains("its cgroup is frozen again"), log);

            Files.writeString(cgroup.resolve("freezer.state"), "THAWED"); // the owner resumes it: it counts on
            t.awaitLines(t.lines().size() + 3);

            freeze();
            dumpWithin(t.pid(), tmp.resolve("img2"), false); // killed: the cgroup stays thawed for the kill
            await().atMost(Duration.ofSeconds(20)).until(() -> !t.alive());
            assertEquals("THAWED", state());
            int before = t.lines().size();
            assertEquals(0, Checkpoint.restore(tmp.resolve("img2")));
            t.awaitLines(before + 3);
            assertCounts(t.lines());
        }
    }
}
