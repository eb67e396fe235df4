package dev.cryo.engine.restore;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vDSO block's move through a free place, which a restore takes when the new task's block overlaps where the
 * image has it: that place must not be the scratch page the restore's remote calls use (the VM sandbox once failed
 * with "'map memory' failed: process_vm_writev: EFAULT" right after such a move). The overlap is left to chance in a
 * real restore; here every move takes that path ({@code cryo.restore.vdsoThroughFreePlace}).
 */
@RootWithPtrace
class VdsoMoveTest {
    @TempDir
    Path tmp;

    @Test
    void aMoveThroughAFreePlaceLeavesTheScratchPageAlone() throws Exception {
        System.setProperty(TaskBuilder.THROUGH_FREE_PLACE, "true");
        try {
            Path exe = CProgram.compile(tmp, "counter", CProgram.counter(10_000));
            try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
                t.awaitLines(3);
                Path img = tmp.resolve("img");
                Checkpoint.dump(t.pid(), img, false);
                await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
                int before = t.lines().size();
                assertEquals(0, Checkpoint.restore(img));
                assertTrue(t.alive(), "restored pid " + t.pid() + " runs");
                t.awaitLines(before + 3);
            }
        } finally {
            System.clearProperty(TaskBuilder.THROUGH_FREE_PLACE);
        }
    }
}
