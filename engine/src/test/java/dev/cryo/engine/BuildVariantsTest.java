package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;

import static dev.cryo.engine.CounterRoundTripTest.assertCounts;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

@RootWithPtrace
class BuildVariantsTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"-O0", "-O2", "-static"})
    void counterBuiltWithFlagContinuesAfterRestore(String flag) throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(5_000), flag);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            int before = t.lines().size();
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            t.awaitLines(before + 5);
            assertCounts(t.lines());
        }
    }
}
