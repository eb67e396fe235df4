package dev.cryo.bench.macro;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WorkloadTest {
    @Test
    void memoryFixtureHoldsAtLeastTheAskedSizeAndLittleMore() {
        for (int mib : new int[]{64, 256, 1024}) {
            Workload w = Workload.memory(mib);
            long asked = (long) mib << 20;
            assertTrue(w.nominalBytes() >= asked, w + " holds less than " + mib + " MiB");
            assertTrue(w.nominalBytes() < asked * 1.001, w + " overshoots " + mib + " MiB by more than 0.1%");
        }
    }

    @Test
    void pageCountFollowsTheFixturesFormula() {
        // memory.c: mapping k holds 1 + (k * 7919) % max pages, for k in 0..maps-1
        long expected = 0;
        for (long k = 0; k < 256; k++) {
            expected += 1 + (k * 7919) % 100;
        }
        assertEquals(expected, Workload.totalPages(256, 100));
    }

    @Test
    void treeHoldsAMebibyteATaskAndTheSharedMapping() {
        Workload w = Workload.tree(100);
        assertEquals("tree-100", w.name());
        assertEquals(99, w.extraTasks());
        assertEquals(0, w.extraThreads());
        assertEquals(116L << 20, w.nominalBytes());
        assertTrue(w.args().contains("--tasks=100"), w.args().toString());
    }

    @Test
    void namesSayTheSize() {
        assertEquals("memory-64M", Workload.memory(64).name());
        assertEquals("memory-1G", Workload.memory(1024).name());
    }
}
