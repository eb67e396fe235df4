package dev.cryo.engine.incremental;

import dev.cryo.engine.dump.MemoryTracking;
import dev.cryo.engine.mem.PageHashes;
import dev.cryo.engine.mem.SoftDirtyTracker;
import dev.cryo.engine.sys.probe.Finding;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The soft-dirty tracker on a kernel without soft-dirty, through a stand-in kernel: clearing remembers every
 * page's content, and pagemap reports bit 55 for a page whose content changed since (or that was not there).
 */
@RootWithPtrace
class SoftDirtyStubTest {
    @TempDir
    Path tmp;

    /** A kernel whose soft-dirty bits follow page contents. */
    static final class ContentKernel implements SoftDirtyTracker.Kernel {
        final Map<Long, Long> snapshot = new HashMap<>();
        int clears;

        @Override
        public long[] pagemap(int pid, long start, int pages) throws IOException {
            long[] real = SoftDirtyTracker.PROC.pagemap(pid, start, pages);
            byte[] page = new byte[4096];
            try (RandomAccessFile mem = new RandomAccessFile("/proc/" + pid + "/mem", "r")) {
                for (int i = 0; i < pages; i++) {
                    long a = start + ((long) i << 12);
                    if ((real[i] & (3L << 62)) == 0) {
                        continue; // not there: reading it through /proc/PID/mem would fault it in
                    }
                    Long before = snapshot.get(a);
                    boolean dirty = before == null || before != hash(mem, a, page);
                    real[i] = dirty ? real[i] | (1L << 55) : real[i] & ~(1L << 55);
                }
            }
            return real;
        }

        @Override
        public void clearSoftDirty(int pid) throws IOException {
            clears++;
            snapshot.clear();
            byte[] page = new byte[4096];
            try (RandomAccessFile mem = new RandomAccessFile("/proc/" + pid + "/mem", "r")) {
                for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/maps"))) {
                    String[] r = line.split("[- ]");
                    long s = Long.parseUnsignedLong(r[0], 16), e = Long.parseUnsignedLong(r[1], 16);
                    if (s < 0 || line.contains("[v")) {
                        continue;
                    }
                    long[] real = SoftDirtyTracker.PROC.pagemap(pid, s, (int) ((e - s) >>> 12));
                    for (long a = s; a < e; a += 4096) {
                        if ((real[(int) ((a - s) >>> 12)] & (3L << 62)) != 0) {
                            snapshot.put(a, hash(mem, a, page));
                        }
                    }
                }
            }
        }

        private static long hash(RandomAccessFile mem, long a, byte[] page) {
            try {
                mem.seek(a);
                mem.readFully(page);
            } catch (IOException e) {
                return -1; // unreadable: never equal to a snapshot of a readable page
            }
            return PageHashes.hash(ByteBuffer.wrap(page).order(ByteOrder.LITTLE_ENDIAN), 0)[0];
        }
    }

    @AfterEach
    void realKernelBack() {
        MemoryTracking.standInForSoftDirty(null, null);
        System.clearProperty("cryo.trackers");
    }

    @Test
    void softDirtyChainOfThreeRestoresEveryPage() throws Exception {
        ContentKernel kernel = new ContentKernel();
        MemoryTracking.standInForSoftDirty(kernel, () -> Finding.yes("stand-in kernel"));
        System.setProperty("cryo.trackers", "soft-dirty");
        try (PatternProgram p = PatternProgram.start(tmp, 11)) {
            Incremental.preDump(p.pid(), tmp.resolve("one"), null);
            assertEquals(1, kernel.clears, "arming clears the bits");
            assertEquals("soft-dirty", Files.readAllLines(tmp.resolve("one/cryo-track")).get(1).split(" ")[1]);
            int changed = p.writeRandomPages(25);
            Incremental.preDump(p.pid(), tmp.resolve("two"), tmp.resolve("one"));
            long written = Incremental.stats(tmp.resolve("two")).getPagesWritten();
            assertTrue(written >= changed && written < changed + 64, "written " + written + " for " + changed + " changed");
            p.writeRandomPages(25);
            Incremental.dump(p.pid(), tmp.resolve("three"), tmp.resolve("two"), false, false);
            assertTrue(Incremental.stats(tmp.resolve("three")).getPagesSkippedParent() > 400);
            await().atMost(Duration.ofSeconds(5)).until(() -> !p.target.alive());
            Checkpoint.restore(tmp.resolve("three"));
            p.target = Target.adopt(p.pid(), p.target.out());
            p.assertIntact(p.pid());
        }
    }
}
