package dev.cryo.bench.micro;

import dev.cryo.engine.mem.PageBuffer;
import dev.cryo.engine.mem.PageRun;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.image.ImageChecksums;
import dev.cryo.image.ImageDir;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.State;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What the dump's manifest costs: a process's pages copied into a pages image as a dump copies them
 * (process_vm_readv into chunk buffers, written by a second thread; from this JVM's own memory here), with the
 * CRC32C per 1 MiB block computed from the written buffers ({@code crc=true}) or not. The ratio of the two is the
 * throughput the checksums cost. Files on /dev/shm (tmpfs): the case where the CRC weighs most.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class ChecksumBench {
    @Param({"1", "64", "256"})
    public int mib;

    @Param({"false", "true"})
    public boolean crc;

    private Path root;
    private ImageDir images;
    private NativeBuffer memory;
    private List<PageRun> runs;
    private RemoteMemory self;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        root = Files.createTempDirectory(Path.of("/dev/shm"), "cryo-jmh-crc-");
        images = ImageDir.create(root);
        memory = NativeBuffer.allocate(mib * (1 << 20) + 4096);
        for (int i = 0; i < memory.capacity(); i += 64) {
            memory.buffer().put(i, (byte) (i * 31));
        }
        long start = (memory.address() + 4095) & ~4095L;
        runs = List.of(new PageRun(start, mib * 256));
        self = new RemoteMemory((int) ProcessHandle.current().pid());
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

    /** The CRC alone over the same bytes (crc=false: nothing), in 1 MiB pieces as the pipe's chunks come. */
    @Benchmark
    public long checksumOnly() {
        if (!crc) {
            return 0;
        }
        ImageChecksums.Sink sums = images.checksumSink("pages-2.img");
        java.nio.ByteBuffer all = memory.buffer();
        for (int at = 0; at < mib << 20; at += 1 << 20) {
            sums.update(all.duplicate().position(at).limit(at + (1 << 20)));
        }
        sums.close();
        return mib;
    }

    @Benchmark
    public long dumpPages() throws Exception {
        PageBuffer pages = PageBuffer.forRuns(runs);
        pages.readFrom(self, List.of());
        pages.writeTo(images.pagesPath(1), crc ? images.checksumSink("pages-1.img") : ImageChecksums.Sink.NONE);
        return pages.bytes();
    }
}
