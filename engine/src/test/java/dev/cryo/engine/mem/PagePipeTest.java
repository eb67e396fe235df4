package dev.cryo.engine.mem;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PagePipeTest {
    @Test
    void chunksCoverEveryRunInOrderWithinTheBufferAndIovecLimits() {
        List<PageRun> runs = new ArrayList<>();
        long at = 0x10000000L;
        for (int i = 0; i < 3000; i++) { // scattered single pages: more pieces than one call takes
            runs.add(new PageRun(at, 1));
            at += 2 * 4096;
        }
        runs.add(new PageRun(at, (PagePipe.CHUNK >>> 12) * 5 / 2)); // one run longer than two chunks
        PageRun slow = new PageRun(at + (long) PagePipe.CHUNK * 3, 3);
        runs.add(slow);
        var chunks = PagePipe.layout(runs, Set.of(slow), 4096);
        long offset = 4096, next = runs.get(0).address();
        int run = 0;
        long inRun = 0;
        for (var c : chunks) {
            long fileOffset = c.fileOffset();
            int bytes = c.bytes(), count = c.count();
            long[] addrs = c.addrs(), lens = c.lens();
            boolean[] proc = c.viaProcMem();
            assertEquals(offset, fileOffset);
            assertTrue(bytes <= PagePipe.CHUNK && count <= RemoteMemory.IOV_MAX);
            long sum = 0;
            for (int i = 0; i < count; i++) {
                PageRun r = runs.get(run);
                assertEquals(r.address() + inRun, addrs[i]);
                assertEquals(r.equals(slow), proc[i]);
                inRun += lens[i];
                sum += lens[i];
                if (inRun == r.bytes()) {
                    run++;
                    inRun = 0;
                }
            }
            assertEquals(bytes, sum);
            offset += bytes;
        }
        assertEquals(runs.size(), run);
        assertEquals(4096 + runs.stream().mapToLong(PageRun::bytes).sum(), offset);
    }
}
