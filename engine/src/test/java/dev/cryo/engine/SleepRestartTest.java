package dev.cryo.engine;

import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A sleep the dump stopped goes on sleeping after the restore for the time it had left, as the kernel restarts a
 * sleep that was stopped and continued: it returns neither early nor with EINTR (CRIU makes it return EINTR).
 */
@RootWithPtrace
class SleepRestartTest {
    @TempDir
    Path tmp;

    @Test
    void aStoppedSleepSleepsWhatItHadLeft() throws Exception {
        try (Target t = Target.start(Path.of("/usr/bin/env"), tmp.resolve("out.txt"),
                "CRYO_FX_READY=" + tmp.resolve("ready"), "CRYO_FX_RESULT=" + tmp.resolve("result"),
                ThreadsRoundTripTest.fixture("nanosleep").toString(), "--sleep-ms=1500", "--no-eintr=1")) {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(tmp.resolve("ready")));
            for (int cycle = 1; cycle <= 2; cycle++) {
                Checkpoint.dump(t.pid(), tmp.resolve("img" + cycle), false);
                await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
                assertEquals(0, Checkpoint.restore(tmp.resolve("img" + cycle)));
            }
            ProcessStateRoundTripTest.kill("-USR2", t.pid());
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(tmp.resolve("result")));
            assertEquals("PASS", Files.readString(tmp.resolve("result")).strip());
        }
    }
}
