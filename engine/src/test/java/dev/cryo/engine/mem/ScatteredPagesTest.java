package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Many scattered pages read into a reserved buffer, on two threads, land in the image in run order. */
class ScatteredPagesTest {
    @TempDir
    Path tmp;

    @Test
    void scatteredRunsReadOnTwoThreadsKeepTheirOrder() throws Exception {
        int pages = 4000;
        NativeBuffer memory = NativeBuffer.allocate(pages * 4096 + 4096);
        long base = (memory.address() + 4095) & ~4095L;
        int skew = (int) (base - memory.address());
        List<PageRun> runs = new ArrayList<>();
        byte[] expected = new byte[(pages / 3 + 1) * 4096];
        int at = 0;
        for (int i = 0; i < pages; i += 3) { // every third page: single-page runs, more than the parallel threshold
            byte[] page = new byte[4096];
            java.util.Arrays.fill(page, (byte) (i * 7 + 1));
            page[0] = (byte) i;
            page[4095] = (byte) (i >> 8);
            memory.put(skew + i * 4096, page);
            runs.add(new PageRun(base + (long) i * 4096, 1));
            System.arraycopy(page, 0, expected, at, 4096);
            at += 4096;
        }
        assertTrue(runs.size() >= PageBuffer.PARALLEL_RUNS, "enough runs for two threads");
        PageBuffer.reserveFor((long) at);
        PageBuffer buffer = PageBuffer.forRuns(runs);
        buffer.readFrom(new RemoteMemory((int) ProcessHandle.current().pid()), Set.of());
        Path image = tmp.resolve("pages-1.img");
        buffer.writeTo(image);
        assertArrayEquals(java.util.Arrays.copyOf(expected, at), Files.readAllBytes(image));
        java.lang.ref.Reference.reachabilityFence(memory);
    }
}
