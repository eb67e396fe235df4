package dev.cryo.bench.micro;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * A fresh pages file of 1 GiB written from one reused 1 MiB buffer, as a dump's copying thread writes it, in
 * writes of {@code pieceKiB}: how the size of each write (which sets the size of the page-cache folios it
 * allocates) weighs on the page-cache copy. The file is new for every operation (deleted after it, untimed), as a
 * dump's is; nothing is synced.
 * {@code dir}: tmpfs is /dev/shm, disk is java.io.tmpdir (ext4 here).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class PageCacheWriteBench {
    static final int MIB = 1 << 20, FILE_MIB = 1024;

    @Param({"1024", "256", "64"})
    public int pieceKiB;

    @Param({"tmpfs", "disk"})
    public String dir;

    private Path root;
    private Path file;
    private ByteBuffer buffer;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        Path base = dir.equals("tmpfs") ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir"));
        root = Files.createTempDirectory(base, "cryo-jmh-pagecache-");
        file = root.resolve("pages-1.img");
        buffer = ByteBuffer.allocateDirect(MIB);
        for (int i = 0; i < MIB; i += 8) {
            buffer.putLong(i, i * 0x9E3779B97F4A7C15L);
        }
    }

    /**
     * How long the memory the last file held stays free before the next write: 0, it is taken again at once (still
     * backed by the host); 3000, as between two dumps, long enough for a VM's free page reporting (2 s) to have
     * handed it back to the host, which must then fault it in again.
     */
    @Param({"3000", "0"})
    public int settleMs;

    @TearDown(Level.Invocation)
    public void removeFile() throws IOException, InterruptedException {
        Files.deleteIfExists(file);
        Thread.sleep(settleMs);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        Files.deleteIfExists(file);
        Files.delete(root);
    }

    @Benchmark
    public long write1GiB() throws IOException {
        int piece = pieceKiB << 10;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long at = 0; at < (long) FILE_MIB * MIB; at += MIB) {
                for (int p = 0; p < MIB; p += piece) {
                    ByteBuffer b = buffer.duplicate().position(p).limit(p + piece);
                    while (b.hasRemaining()) {
                        ch.write(b, at + b.position());
                    }
                }
            }
            return ch.size();
        }
    }
}
