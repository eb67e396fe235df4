package dev.cryo.bench.micro;

import dev.cryo.image.ImageFile;
import dev.cryo.image.ImageFormatException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.util.concurrent.TimeUnit;

/**
 * Image encode (messages to CRIU's framed binary) and decode (binary back to messages), per image.
 * The shapes: one thread's core, an mm with 16 or 1024 VMAs, a pagemap with 16 or 16384 runs, 64 open files.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class ImageCodecBench {
    @Param({"core", "mm-16", "mm-1024", "pagemap-16", "pagemap-16384", "files-64"})
    public String image;

    private ImageFile file;
    private byte[] bytes;

    @Setup
    public void setUp() throws ImageFormatException {
        String kind = image.contains("-") ? image.substring(0, image.indexOf('-')) : image;
        int n = image.contains("-") ? Integer.parseInt(image.substring(image.indexOf('-') + 1)) : 1;
        file = switch (kind) {
            case "core" -> SampleImages.core();
            case "mm" -> SampleImages.mm(n);
            case "pagemap" -> SampleImages.pagemap(n);
            case "files" -> SampleImages.files(n);
            default -> throw new IllegalArgumentException("unknown image " + image);
        };
        bytes = file.toBytes();
    }

    @Benchmark
    public byte[] encode() throws ImageFormatException {
        return file.toBytes();
    }

    @Benchmark
    public ImageFile decode() throws ImageFormatException {
        return ImageFile.read(image, bytes);
    }
}
