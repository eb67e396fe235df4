package dev.cryo.engine.mem;

import dev.cryo.engine.sys.Syscall;
import dev.cryo.image.ImageChecksums;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFormatException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A large copy from a process into a pages image, by each route (mapped, write, pipe): every page lands at its
 * place in the file, pages behind PROT_NONE included, and the manifest's checksums are those of the file's bytes
 * (summed by whichever thread copied each block), so a restore's check passes and a flipped byte is found.
 */
class PagesFileRoutesTest {
    static final int PAGE = 4096;
    /** 37 MiB and 3 pages: several chunks per thread, and a short last checksum block. */
    static final int PAGES = 37 * 256 + 3;

    @TempDir
    Path tmp;
    long region;
    long regionBytes;
    List<PageRun> runs;
    PageRun hidden;

    @BeforeEach
    void patternedMemory() {
        // PAGES pages to copy, spread over twice as many: runs of 1 to 300 pages with gaps, one of them PROT_NONE
        regionBytes = 2L * PAGES * PAGE;
        region = Syscall.raw(Syscall.MMAP, 0, regionBytes, 3, 0x22, -1, 0);
        assertTrue(region > 0, "mmap: " + region);
        runs = new ArrayList<>();
        long at = region;
        int left = PAGES, i = 0;
        while (left > 0) {
            int n = Math.min(left, 1 + (i * 97) % 300);
            runs.add(new PageRun(at, n));
            left -= n;
            at += (long) (n + 1 + i % 3) * PAGE;
            i++;
        }
        ByteBuffer view = com.kenai.jffi.MemoryIO.getInstance().newDirectByteBuffer(region, (int) regionBytes);
        for (PageRun r : runs) {
            for (int p = 0; p < r.pages(); p++) {
                long a = r.address() + (long) p * PAGE;
                view.putLong((int) (a - region), a); // each page says where it was
                view.putLong((int) (a - region) + PAGE - 8, ~a);
            }
        }
        hidden = runs.get(runs.size() / 2);
        assertEquals(0, Syscall.raw(Syscall.MPROTECT, hidden.address(), hidden.bytes(), 0)); // PROT_NONE
    }

    @AfterEach
    void unmap() {
        Syscall.raw(Syscall.MUNMAP, region, regionBytes);
    }

    @ParameterizedTest
    @EnumSource(PagePipe.Route.class)
    void everyPageLandsInPlaceAndTheChecksumsAreTheFilesOwn(PagePipe.Route route) throws Exception {
        Path dir = tmp.resolve("img");
        ImageDir images = ImageDir.create(dir);
        images.beginDump();
        PageBuffer pages = PageBuffer.forRuns(runs);
        pages.via(route);
        pages.readFrom(new RemoteMemory((int) ProcessHandle.current().pid()), Set.of(hidden));
        Path file = dir.resolve("pages-1.img");
        pages.writeTo(file, images.checksumSink("pages-1.img"));
        assertTrue(pages.streamed(), "a copy this large streams");
        assertTrue(pages.streamRoute().startsWith(route.name().toLowerCase(java.util.Locale.ROOT)), pages.streamRoute());
        if (route != PagePipe.Route.PIPE && Runtime.getRuntime().availableProcessors() >= 2) {
            assertTrue(pages.streamRoute().endsWith("2 threads"), pages.streamRoute());
        }

        assertEquals((long) PAGES * PAGE, Files.size(file));
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer page = ByteBuffer.allocate(PAGE);
            long offset = 0;
            for (PageRun r : runs) {
                for (int p = 0; p < r.pages(); p++, offset += PAGE) {
                    long a = r.address() + (long) p * PAGE;
                    page.clear();
                    while (page.hasRemaining() && ch.read(page, offset + page.position()) > 0) {
                    }
                    assertEquals(a, page.getLong(0), "page at file offset " + offset);
                    assertEquals(~a, page.getLong(PAGE - 8), "end of the page at file offset " + offset);
                    for (int b = 8; b < PAGE - 8; b += 8) {
                        if (page.getLong(b) != 0) {
                            throw new AssertionError("page at file offset " + offset + ": byte " + b + " not zero");
                        }
                    }
                }
            }
        }

        images.commitDump();
        ImageChecksums.verify(dir); // what a restore checks first
        flipByte(file, 20L * (1 << 20) + 12345);
        String m = assertThrows(ImageFormatException.class, () -> ImageChecksums.verify(dir)).getMessage();
        assertTrue(m.contains("pages-1.img") && m.contains("bytes " + 20L * (1 << 20) + " to"), m);
    }

    private static void flipByte(Path file, long at) throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x40)).clear();
            ch.write(b, at);
        }
    }

    @Test
    void sharesStartOnChecksumBlocksAndCoverEveryChunkInOrder() {
        var chunks = PagePipe.layout(runs, Set.of(), 0);
        for (int threads = 1; threads <= 4; threads++) {
            var shares = PagePipe.shares(chunks, threads);
            assertEquals(Math.min(threads, chunks.size() / PagePipe.CHUNKS_PER_THREAD), shares.size());
            List<PagePipe.Chunk> all = new ArrayList<>();
            for (var s : shares) {
                assertEquals(0, s.get(0).fileOffset() % ImageChecksums.BLOCK, "a share starts on a block");
                all.addAll(s);
            }
            assertEquals(chunks, all);
        }
        assertEquals(1, PagePipe.shares(chunks.subList(0, 5), 2).size(), "too few chunks to share");
    }
}
