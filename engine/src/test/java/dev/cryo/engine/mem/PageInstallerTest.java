package dev.cryo.engine.mem;

import com.kenai.jffi.MemoryIO;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Pages put into memory the way a restore puts them into the new process; here the memory is the JVM's own. */
class PageInstallerTest {
    static final int PG = 4096;

    @TempDir
    Path tmp;

    private final List<long[]> mapped = new ArrayList<>();

    @AfterEach
    void unmap() {
        for (long[] m : mapped) {
            Syscall.raw(Syscall.MUNMAP, m[0], m[1]);
        }
    }

    private long anon(long bytes) throws SyscallException {
        long at = Syscall.call("mmap", Syscall.MMAP, 0, bytes, 3, 0x22, -1, 0);
        mapped.add(new long[]{at, bytes});
        return at;
    }

    /** Page {@code n} of the image holds the byte {@code n * 31 + 5} throughout. */
    private Path image(int pages) throws IOException {
        byte[] b = new byte[pages * PG];
        for (int p = 0; p < pages; p++) {
            java.util.Arrays.fill(b, p * PG, (p + 1) * PG, (byte) (p * 31 + 5));
        }
        return Files.write(tmp.resolve("pages-1.img"), b);
    }

    private static UffdCopy uffdOrSkip() {
        try {
            return UffdCopy.ofSelf();
        } catch (SyscallException e) {
            assumeTrue(false, "no userfaultfd here: " + e.getMessage());
            return null;
        }
    }

    private static void assertPage(long address, int imagePage) {
        byte want = (byte) (imagePage * 31 + 5);
        MemoryIO io = MemoryIO.getInstance();
        assertEquals(want, io.getByte(address), "first byte at 0x" + Long.toHexString(address));
        assertEquals(want, io.getByte(address + PG - 1), "last byte at 0x" + Long.toHexString(address));
    }

    @Test
    void piecesCutRunsWhereTheyEnterOrLeaveARangeAndKeepTheirSourceOffsets() {
        List<PageRun> runs = List.of(new PageRun(0x10000, 4), new PageRun(0x20000, 8), new PageRun(0x40000, 1));
        List<long[]> ranges = List.of(new long[]{0x12000, 0x22000}, new long[]{0x24000, 0x30000});
        List<PageInstaller.Piece> p = PageInstaller.pieces(runs, ranges);
        assertEquals(List.of(
                new PageInstaller.Piece(0x10000, 0, 2 * PG, false),
                new PageInstaller.Piece(0x12000, 2 * PG, 2 * PG, true),
                new PageInstaller.Piece(0x20000, 4 * PG, 2 * PG, true),
                new PageInstaller.Piece(0x22000, 6 * PG, 2 * PG, false),
                new PageInstaller.Piece(0x24000, 8 * PG, 4 * PG, true),
                new PageInstaller.Piece(0x40000, 12 * PG, PG, false)), p);
    }

    @Test
    void pagesNamedTwiceAreWrittenOnceFromTheirLastCopy() {
        List<PageInstaller.Piece> in = List.of(
                new PageInstaller.Piece(0x10000, 0, 4 * PG, true),
                new PageInstaller.Piece(0x30000, 4 * PG, 2 * PG, true),
                new PageInstaller.Piece(0x12000, 6 * PG, 4 * PG, true), // overlaps the first run's end
                new PageInstaller.Piece(0x2f000, 10 * PG, 4 * PG, true)); // covers the second run and more
        assertEquals(List.of(
                new PageInstaller.Piece(0x10000, 0, 2 * PG, true),
                new PageInstaller.Piece(0x12000, 6 * PG, 4 * PG, true),
                new PageInstaller.Piece(0x2f000, 10 * PG, 4 * PG, true)), PageInstaller.lastCopies(in));
        List<PageInstaller.Piece> disjoint = List.of(in.get(0), in.get(1));
        assertTrue(disjoint == PageInstaller.lastCopies(disjoint), "nothing named twice: the same list");
    }

    @Test
    void sharesCoverEveryByteOnceOnPageBoundaries() {
        List<PageInstaller.Piece> pieces = new ArrayList<>();
        long src = 0, total = 0;
        for (int i = 0; i < 50; i++) {
            long len = (long) ((i * 7) % 13 + 1) * PG;
            pieces.add(new PageInstaller.Piece(0x1000000L + i * 0x100000L, src, len, true));
            src += len;
            total += len;
        }
        for (int threads = 1; threads <= 3; threads++) {
            List<List<PageInstaller.Piece>> shares = PageInstaller.split(pieces, total, threads);
            assertEquals(threads, shares.size());
            long sum = 0, expectSrc = 0;
            for (List<PageInstaller.Piece> s : shares) {
                long share = 0;
                for (PageInstaller.Piece p : s) {
                    assertEquals(expectSrc, p.srcOffset(), "pieces stay in order, nothing skipped or repeated");
                    assertEquals(0, p.length() % PG);
                    expectSrc += p.length();
                    share += p.length();
                }
                assertTrue(share <= total / threads + PG, "share of " + share + " for " + threads + " threads");
                sum += share;
            }
            assertEquals(total, sum);
        }
    }

    @Test
    void registeredMemoryIsFilledByCopyAndTheRestByWritev() throws Exception {
        int big = (int) (PageInstaller.PARALLEL_MIN / PG) + 300; // past the size that splits between threads
        Path file = image(big + 8);
        long fresh = anon((long) big * PG);
        long other = anon(16L * PG);
        List<PageRun> runs = List.of(new PageRun(other + PG, 3), new PageRun(fresh, big), new PageRun(other + 8L * PG, 5));
        PageInstaller.Result r;
        try (UffdCopy uffd = uffdOrSkip(); PageSource src = PageSource.file(file)) {
            r = new PageInstaller(new RemoteMemory((int) ProcessHandle.current().pid()), uffd)
                    .install(runs, src, List.of(new long[]{fresh, fresh + (long) big * PG}));
        }
        assertEquals((long) big * PG, r.uffdBytes());
        assertEquals(8L * PG, r.writevBytes());
        assertEquals(1, r.vmasRegistered());
        assertEquals(0, r.repeatedBytes());
        assertPage(other + PG, 0);
        assertPage(other + 3L * PG, 2);
        for (int p = 0; p < big; p += 97) {
            assertPage(fresh + (long) p * PG, 3 + p);
        }
        assertPage(fresh + (long) (big - 1) * PG, 3 + big - 1);
        assertPage(other + 12L * PG, 3 + big + 4);
        assertFalse(vmFlags(fresh).contains(" um"), "the VMA is no longer registered: " + vmFlags(fresh));
    }

    @Test
    void sourceAlreadyInMemoryIsCopiedInPlace() throws Exception {
        long source = anon(6L * PG);
        for (int p = 0; p < 6; p++) {
            MemoryIO.getInstance().setMemory(source + (long) p * PG, PG, (byte) (p * 31 + 5));
        }
        long fresh = anon(6L * PG);
        try (UffdCopy uffd = uffdOrSkip()) {
            new PageInstaller(new RemoteMemory((int) ProcessHandle.current().pid()), uffd).install(
                    List.of(new PageRun(fresh, 2), new PageRun(fresh + 3L * PG, 3)), PageSource.inMemory(source),
                    List.of(new long[]{fresh, fresh + 6L * PG}));
        }
        assertPage(fresh, 0);
        assertPage(fresh + PG, 1);
        assertEquals(0, MemoryIO.getInstance().getByte(fresh + 2L * PG), "a page no run names stays empty");
        assertPage(fresh + 3L * PG, 2);
        assertPage(fresh + 5L * PG, 4);
    }

    @Test
    void imageShorterThanItsPagemapIsNamed() throws Exception {
        Path file = image(4);
        long fresh = anon(8L * PG);
        try (UffdCopy uffd = uffdOrSkip(); PageSource src = PageSource.file(file)) {
            PageInstaller installer = new PageInstaller(new RemoteMemory((int) ProcessHandle.current().pid()), uffd);
            IOException e = assertThrows(IOException.class, () -> installer.install(List.of(new PageRun(fresh, 8)), src,
                    List.of(new long[]{fresh, fresh + 8L * PG})));
            assertTrue(e.getMessage().contains("pages-1.img ends at byte " + 4 * PG), e.getMessage());
        }
    }

    @Test
    void withoutUserfaultfdEverythingIsWritten() throws Exception {
        Path file = image(4);
        long fresh = anon(4L * PG);
        PageInstaller.Result r;
        try (PageSource src = PageSource.file(file)) {
            r = new PageInstaller(new RemoteMemory((int) ProcessHandle.current().pid()), null)
                    .install(List.of(new PageRun(fresh, 4)), src, List.of(new long[]{fresh, fresh + 4L * PG}));
        }
        assertEquals(0, r.uffdBytes());
        assertEquals(4L * PG, r.writevBytes());
        assertPage(fresh + 3L * PG, 3);
    }

    /** The VmFlags line of the VMA holding {@code address}. */
    private static String vmFlags(long address) throws IOException {
        boolean in = false;
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
            if (!line.isEmpty() && Character.digit(line.charAt(0), 16) >= 0 && line.indexOf('-') > 0
                    && line.indexOf('-') < line.indexOf(' ')) {
                String[] range = line.substring(0, line.indexOf(' ')).split("-");
                in = Long.parseUnsignedLong(range[0], 16) <= address && address < Long.parseUnsignedLong(range[1], 16);
            } else if (in && line.startsWith("VmFlags:")) {
                return line;
            }
        }
        throw new AssertionError("no VMA at 0x" + Long.toHexString(address));
    }
}
