package dev.cryo.bench.micro;

import dev.cryo.engine.mem.PageBuffer;
import dev.cryo.engine.mem.PageRun;
import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.image.ImageChecksums;
import dev.cryo.image.ImageDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Issue 15's bound: the dump's page throughput with the manifest's CRC32C against without it, in pairs. Each
 * round copies the same pages twice, once each way, in alternating order, through the path a dump takes
 * ({@link PageBuffer#readFrom} then {@link PageBuffer#writeTo}: process_vm_readv into chunk buffers, written by
 * a second thread, the CRC fed from the written buffers). The verdict is the median of the rounds' own ratios:
 * a load that changes during the run moves both halves of a round alike, which {@link ChecksumBench} (JMH, one
 * parameter after the other) cannot promise on a shared machine. Run as root from the repository, after
 * {@code mvn -q -B install -DskipTests}:
 * <pre>
 * mvn -q -B -o -pl bench dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
 * java -cp bench/target/classes:$(cat /tmp/cp.txt) dev.cryo.bench.micro.ChecksumCostBench [MIB] [ROUNDS] [DIR...]
 * </pre>
 * Defaults: 256 MiB, 21 rounds after 5 unmeasured ones, on /dev/shm (tmpfs, where the CRC weighs most) and
 * bench/target (the disk). The pages come from this JVM's own memory (process_vm_readv of its own pid).
 */
public final class ChecksumCostBench {
    public static void main(String[] args) throws Exception {
        int mib = args.length > 0 ? Integer.parseInt(args[0]) : 256;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 21;
        List<Path> dirs = new ArrayList<>();
        for (int i = 2; i < args.length; i++) {
            dirs.add(Path.of(args[i]));
        }
        if (dirs.isEmpty()) {
            dirs = List.of(Path.of("/dev/shm"), Path.of("bench/target"));
        }
        NativeBuffer memory = NativeBuffer.allocate(mib * (1 << 20) + 4096);
        for (int i = 0; i < memory.capacity(); i += 64) {
            memory.buffer().put(i, (byte) (i * 31));
        }
        long start = (memory.address() + 4095) & ~4095L;
        List<PageRun> runs = List.of(new PageRun(start, mib * 256));
        RemoteMemory self = new RemoteMemory((int) ProcessHandle.current().pid());
        System.out.printf("ChecksumCostBench: %d MiB of pages, %d measured rounds (5 unmeasured first), load average %s%n",
                mib, rounds, loadAverage());
        System.out.println("| directory | without CRC (median) | with CRC (median) | throughput without / with | with / without, median of rounds (min–max) |");
        System.out.println("|---|---:|---:|---:|---:|");
        for (Path dir : dirs) {
            Path root = Files.createTempDirectory(dir.toAbsolutePath(), "cryo-crc-cost-");
            try {
                double[] plain = new double[rounds], crc = new double[rounds], ratio = new double[rounds];
                for (int r = -5; r < rounds; r++) {
                    boolean crcFirst = (r & 1) == 0;
                    double a = copy(root, runs, self, crcFirst), b = copy(root, runs, self, !crcFirst);
                    if (r < 0) {
                        continue;
                    }
                    crc[r] = crcFirst ? a : b;
                    plain[r] = crcFirst ? b : a;
                    ratio[r] = crc[r] / plain[r];
                }
                double bytes = mib * (double) (1 << 20);
                double p = median(plain), c = median(crc);
                double[] sorted = ratio.clone();
                Arrays.sort(sorted);
                System.out.printf("| %s (%s) | %.1f ms | %.1f ms | %.2f / %.2f GB/s | %.3f (%.3f–%.3f) |%n", dir,
                        Files.getFileStore(root).type(), p, c, bytes / p / 1e6, bytes / c / 1e6, median(ratio),
                        sorted[0], sorted[sorted.length - 1]);
            } finally {
                removeTree(root);
            }
        }
        System.out.printf("load average at the end: %s%n", loadAverage());
    }

    /** One copy of the pages into a fresh image directory's pages file; its wall time in ms. */
    private static double copy(Path root, List<PageRun> runs, RemoteMemory self, boolean withCrc) throws Exception {
        Path dir = Files.createTempDirectory(root, withCrc ? "crc-" : "plain-");
        ImageDir images = ImageDir.create(dir);
        long t0 = System.nanoTime();
        PageBuffer pages = PageBuffer.forRuns(runs);
        pages.readFrom(self, List.of());
        Path file = images.pagesPath(1);
        pages.writeTo(file, withCrc ? images.checksumSink(file.getFileName().toString()) : ImageChecksums.Sink.NONE);
        double ms = (System.nanoTime() - t0) / 1e6;
        removeTree(dir);
        return ms;
    }

    private static void removeTree(Path dir) throws IOException {
        try (var all = Files.walk(dir)) {
            for (Path f : (Iterable<Path>) all.sorted(java.util.Comparator.reverseOrder())::iterator) {
                Files.delete(f);
            }
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static String loadAverage() throws IOException {
        String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
        return f[0] + " " + f[1] + " " + f[2];
    }
}
