package dev.cryo.bench.micro;

import com.google.protobuf.Message;
import com.kenai.jffi.MemoryIO;
import dev.cryo.engine.mem.PageMapScanner;
import dev.cryo.engine.mem.PageRun;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageFile;
import dev.cryo.image.ImageFormatException;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.pagemap_head;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Pagemap building: which pages of a 64 MiB private anonymous VMA are the process's own
 * ({@link PageMapScanner#ownPages} over /proc/PID/pagemap), then the pagemap image made from those runs.
 * {@code layout}: dense = every page written (one run), sparse = every other page (8192 runs).
 * The VMA is this JVM's own, mapped with guard pages around it so the kernel cannot merge it with a neighbour.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class PageMapBench {
    static final long SIZE = 64L << 20;
    static final int PAGE = 4096;

    @Param({"dense", "sparse"})
    public String layout;

    private long mapping;
    private MapsEntry vma;
    private PageMapScanner scanner;

    @Setup
    public void setUp() throws SyscallException, IOException {
        long total = SIZE + 2 * PAGE;
        mapping = Syscall.call("mmap", Syscall.MMAP, 0, total, 3 /* rw */, 0x22 /* private|anon */, -1, 0);
        Syscall.call("mprotect", Syscall.MPROTECT, mapping, PAGE, 0);
        Syscall.call("mprotect", Syscall.MPROTECT, mapping + PAGE + SIZE, PAGE, 0);
        long start = mapping + PAGE;
        // no transparent huge pages: one touch would make 512 pages present and sparse would equal dense
        Syscall.call("madvise", Syscall.MADVISE, start, SIZE, 15 /* MADV_NOHUGEPAGE */);
        int step = layout.equals("dense") ? 1 : 2;
        for (long off = 0; off < SIZE; off += (long) step * PAGE) {
            MemoryIO.getInstance().putLong(start + off, off | 1);
        }
        vma = new MapsEntry(start, start + SIZE, true, true, false, false, 0, 0, 0, 0, "", Set.of());
        scanner = new PageMapScanner((int) ProcessHandle.current().pid());
    }

    @TearDown
    public void tearDown() throws SyscallException, IOException {
        scanner.close();
        Syscall.call("munmap", Syscall.MUNMAP, mapping, SIZE + 2 * PAGE);
    }

    /** /proc/PID/pagemap read and turned into runs. */
    @Benchmark
    public List<PageRun> scan() throws IOException {
        return scanner.ownPages(vma);
    }

    /** The same, plus the runs as pagemap-PID.img bytes. */
    @Benchmark
    public byte[] scanAndEncode() throws IOException, ImageFormatException {
        List<PageRun> runs = scanner.ownPages(vma);
        List<Message> entries = new ArrayList<>(runs.size() + 1);
        entries.add(pagemap_head.newBuilder().setPagesId(1).build());
        for (PageRun r : runs) {
            entries.add(PageMap.entry(r.address(), r.pages(), PageMap.PE_PRESENT));
        }
        return ImageFile.of("PAGEMAP", entries).toBytes();
    }
}
