package dev.cryo.engine.sys;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The restore's pin: the pinned thread runs on one CPU, counts the CPUs it had for its workers (the JVM's own count
 * reads the calling thread's mask, though it may answer from a cache of a few milliseconds), a worker it starts can
 * take its CPUs back, and closing the pin gives the thread its mask back.
 */
class CpuPinTest {
    private static String cpusAllowed() throws Exception {
        return Files.readAllLines(Path.of("/proc/thread-self/status")).stream()
                .filter(l -> l.startsWith("Cpus_allowed_list:")).map(l -> l.substring(l.indexOf(':') + 1).trim())
                .findFirst().orElseThrow();
    }

    @Test
    void pinnedThreadCountsItsCpusAndItsWorkersTakeThemBack() throws Exception {
        String mine = cpusAllowed();
        int cpus = Runtime.getRuntime().availableProcessors();
        assumeTrue(cpus >= 2, "needs two CPUs allowed (this thread has " + mine + "): with one, nothing is pinned");
        try (CpuPin pin = CpuPin.here()) {
            assertTrue(pin.active());
            assertEquals(Integer.toString(pin.cpu()), cpusAllowed(), "pinned to the CPU it was on");
            assertEquals(cpus, CpuPin.processors(), "what the pin counts: the CPUs it took");
            AtomicReference<String> inherited = new AtomicReference<>(), released = new AtomicReference<>();
            Thread worker = new Thread(() -> {
                try {
                    inherited.set(cpusAllowed());
                    CpuPin.unpinInherited();
                    released.set(cpusAllowed());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            worker.start();
            worker.join();
            assertEquals(Integer.toString(pin.cpu()), inherited.get(), "a thread inherits its creator's mask");
            assertEquals(mine, released.get(), "and takes the CPUs back");
        }
        assertEquals(mine, cpusAllowed(), "closed: the thread has its own mask again");
    }
}
