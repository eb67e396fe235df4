package dev.cryo.bench.micro;

import dev.cryo.engine.mem.PageBuffer;
import dev.cryo.engine.mem.PageRun;
import dev.cryo.image.ImageDir;
import dev.cryo.image.PageIndex;
import dev.cryo.image.PageMap;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Page writing and reading as dump and restore do them: a whole pages-N.img from one native buffer
 * ({@link PageBuffer#writeTo(Path)}, {@link PageBuffer#readFrom(Path, long)}), and single pages looked up through
 * the pagemap ({@link PageIndex#readPage}). {@code dir}: tmpfs is /dev/shm, disk is java.io.tmpdir (ext4 here).
 * Writes are not synced: they measure what a dump pays, which is the page cache, not the device.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class PageFileBench {
    static final int RANDOM_PAGES = 256;

    @Param({"1", "64"})
    public int mib;

    @Param({"tmpfs", "disk"})
    public String dir;

    private Path root;
    private Path pagesFile;
    private PageBuffer buffer;
    private PageIndex index;
    private long[] randomPages;
    private int next;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        Path base = dir.equals("tmpfs") ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir"));
        root = Files.createTempDirectory(base, "cryo-jmh-pages-");
        int pages = mib * 256;
        long vaddr = 0x7f00_0000_0000L;
        buffer = PageBuffer.forRuns(List.of(new PageRun(vaddr, pages)));
        ImageDir images = ImageDir.create(root);
        pagesFile = images.pagesPath(1);
        buffer.writeTo(pagesFile);
        images.writePagemap(1, new PageMap(1, List.of(PageMap.entry(vaddr, pages, PageMap.PE_PRESENT))));
        index = images.pageIndex(1);
        randomPages = new long[RANDOM_PAGES];
        long state = 0x9E3779B97F4A7C15L;
        for (int i = 0; i < RANDOM_PAGES; i++) {
            state ^= state << 13;
            state ^= state >>> 7;
            state ^= state << 17;
            randomPages[i] = vaddr + (Math.floorMod(state, pages) << 12);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        try (var files = Files.list(root)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Files.delete(p);
            }
        }
        Files.delete(root);
    }

    /** Dump's last step: the pages buffer into pages-1.img (truncate and write). */
    @Benchmark
    public void writePagesImage() throws IOException {
        buffer.writeTo(pagesFile);
    }

    /** Restore's first memory step: pages-1.img into the buffer the pages are written to the process from. */
    @Benchmark
    public PageBuffer readPagesImage() throws IOException {
        buffer.readFrom(pagesFile, 0);
        return buffer;
    }

    /** Single pages at random addresses through the pagemap, as a reader of one page (crit, lazy restore) does. */
    @Benchmark
    @OperationsPerInvocation(RANDOM_PAGES)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public int readPageViaIndex() throws IOException {
        int sum = 0;
        for (int i = 0; i < RANDOM_PAGES; i++) {
            sum += index.readPage(randomPages[(next++) & (RANDOM_PAGES - 1)])[0];
        }
        return sum;
    }
}
