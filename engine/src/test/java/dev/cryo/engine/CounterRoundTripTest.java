package dev.cryo.engine;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.dump.Dumper;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.restore.Restorer;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@RootWithPtrace
class CounterRoundTripTest {
    @TempDir
    Path tmp;

    static DumpOptions dump(int pid, Path dir, boolean leaveRunning) {
        return new DumpOptions(pid, dir, false, leaveRunning, true, true, false, false, null, null, null);
    }

    static RestoreOptions restore(Path dir) {
        return new RestoreOptions(dir, true, true, true, null, null);
    }

    static void assertCounts(List<String> lines) {
        for (int i = 0; i < lines.size(); i++) {
            assertEquals(Integer.toString(i), lines.get(i), "line " + i + " of " + lines);
        }
    }

    @Test
    void restoredCounterKeepsItsPidAndContinuesWithoutGap() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        Path img = tmp.resolve("img");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            int before = t.lines().size();
            assertEquals(0, Checkpoint.restore(img));
            try (Target r = Target.adopt(t.pid(), t.out())) {
                assertTrue(r.alive(), "restored pid " + t.pid() + " runs");
                r.awaitLines(before + 5);
                assertCounts(r.lines());
            }
        }
    }

    @Test
    void counterSurvivesTwentyCyclesInARow() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(5_000));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            for (int cycle = 0; cycle < 20; cycle++) {
                Path img = tmp.resolve("img-" + cycle);
                Checkpoint.dump(t.pid(), img, false);
                await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                int before = t.lines().size();
                assertEquals(0, Checkpoint.restore(img));
                assertTrue(t.alive(), "cycle " + cycle + ": restored pid " + t.pid() + " runs");
                t.awaitLines(before + 2);
            }
            assertCounts(t.lines());
        }
    }
}
