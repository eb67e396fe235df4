package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static dev.cryo.engine.CounterRoundTripTest.assertCounts;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@RootWithPtrace
class LeaveRunningTest {
    @TempDir
    Path tmp;

    @Test
    void leaveRunningKeepsCountingAndALaterDumpRestores() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(5_000));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            Checkpoint.dump(t.pid(), tmp.resolve("img1"), true);
            assertTrue(t.alive(), "pid " + t.pid() + " still runs after -R");
            int after = t.lines().size();
            t.awaitLines(after + 5);

            Checkpoint.dump(t.pid(), tmp.resolve("img2"), true);
            assertTrue(t.alive());
            t.awaitLines(t.lines().size() + 3);

            Checkpoint.dump(t.pid(), tmp.resolve("img3"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            int before = t.lines().size();
            assertEquals(0, Checkpoint.restore(tmp.resolve("img3")));
            t.awaitLines(before + 5);
            assertCounts(t.lines());
        }
    }

    @Test
    void restoreIntoATakenPidFailsAndLeavesNothingBehind() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(5_000));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            Checkpoint.dump(t.pid(), tmp.resolve("img"), true);
            long childrenBefore = ProcessHandle.current().children().count();
            CryoException e = assertThrows(CryoException.class, () -> Checkpoint.restore(tmp.resolve("img")));
            assertTrue(e.getMessage().contains("pid " + t.pid() + " is in use"), e.getMessage());
            assertEquals(childrenBefore, ProcessHandle.current().children().count(), "no helper left");
            int n = t.lines().size();
            t.awaitLines(n + 3);
            assertCounts(t.lines());
        }
    }
}
