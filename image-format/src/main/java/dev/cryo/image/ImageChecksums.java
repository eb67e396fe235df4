package dev.cryo.image;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.CRC32C;

/**
 * The manifest of a dump: a CRC32C per {@link #BLOCK} bytes of every image file the dump wrote, computed from the
 * bytes as they were written (never read back). A restore checks it before it touches anything, so that a flipped
 * bit in any file, the pages included, is refused naming the file and the offset of the damaged block; CRIU's
 * format has no such thing, and CRIU restores damaged pages silently.
 *
 * <p>The manifest, {@value #FILE}, lies beside the images. So that crit (and anything that decodes every file of
 * a dump) reads it too, it is framed as a CRIU image: a STATS image whose one stats_entry carries the manifest's
 * text in field {@value #TEXT_FIELD}, which CRIU's schema does not have (crit shows an empty entry). The text:
 * <pre>
 * cryo-checksums 1 crc32c 1048576
 * core-42.img 1234 1a2b3c4d
 * pages-1.img 2097152 0badf00d 12345678
 * end 9abcdef0
 * </pre>
 * one line per file (name, size, one CRC per block in hex), and last the CRC of all the lines before it.
 * In an incremental chain every directory has its own. A dump that has not finished yet, or failed, leaves
 * {@value #INCOMPLETE} in the directory; a restore refuses such a directory.
 */
public final class ImageChecksums {
    public static final String FILE = "cryo-checksums";
    public static final String INCOMPLETE = "cryo-dump-incomplete";
    /** Bytes per checksum: small enough to name where damage is, large enough that the manifest stays small. */
    public static final int BLOCK = 1 << 20;
    static final String HEADER = "cryo-checksums 1 crc32c " + BLOCK;
    /** Field of stats_entry that holds the text: far above CRIU's (1 and 2). */
    static final int TEXT_FIELD = 1000;

    /** The checksums of one file, in blocks. */
    public record Sums(long size, int[] blocks) {
    }

    private final Map<String, Sums> files = new ConcurrentHashMap<>();
    /** Every file a sink was opened for, finished or not: what a failed dump removes. */
    private final java.util.Set<String> started = ConcurrentHashMap.newKeySet();

    /** Records a whole file's bytes, as written. */
    public void record(String name, byte[] bytes) {
        Sink s = sink(name);
        s.update(ByteBuffer.wrap(bytes));
        s.close();
    }

    /** A running checksum of a file written front to back; its sums are recorded when it is closed. */
    public Sink sink(String name) {
        requireName(name);
        started.add(name);
        return new Sink(this, name);
    }

    /** Names of the files written so far, those whose writing failed half-way included. */
    public List<String> names() {
        return new ArrayList<>(new java.util.TreeSet<>(started));
    }

    Sums sums(String name) {
        return files.get(name);
    }

    /** The manifest file's bytes: its text framed as a STATS image (see above). */
    public byte[] manifest() throws ImageFormatException {
        var text = com.google.protobuf.UnknownFieldSet.newBuilder().addField(TEXT_FIELD,
                com.google.protobuf.UnknownFieldSet.Field.newBuilder()
                        .addLengthDelimited(com.google.protobuf.ByteString.copyFrom(text())).build()).build();
        return ImageFile.of("STATS", List.of(dev.cryo.image.proto.stats_entry.newBuilder().setUnknownFields(text).build()))
                .toBytes();
    }

    /** The text of a manifest file (see above). */
    static byte[] text(byte[] file) throws ImageFormatException {
        ImageFile img = ImageFile.read(FILE, file);
        List<com.google.protobuf.Message> entries = img.entries();
        if (!img.magicName().equals("STATS") || entries.size() != 1) {
            throw new ImageFormatException(FILE, 0, "not a manifest: a " + img.magicName() + " image of "
                    + entries.size() + " entries");
        }
        var field = entries.get(0).getUnknownFields().getField(TEXT_FIELD);
        if (field == null || field.getLengthDelimitedList().size() != 1) {
            throw new ImageFormatException(FILE, 0, "not a manifest: its entry holds no text");
        }
        return field.getLengthDelimitedList().get(0).toByteArray();
    }

    /** The manifest's text, files sorted by name. */
    byte[] text() {
        StringBuilder sb = new StringBuilder(HEADER).append('\n');
        for (Map.Entry<String, Sums> e : new TreeMap<>(files).entrySet()) {
            sb.append(e.getKey()).append(' ').append(e.getValue().size());
            for (int c : e.getValue().blocks()) {
                sb.append(' ').append(String.format("%08x", c));
            }
            sb.append('\n');
        }
        byte[] body = sb.toString().getBytes(StandardCharsets.US_ASCII);
        CRC32C crc = new CRC32C();
        crc.update(body);
        return (sb + String.format("end %08x%n", (int) crc.getValue())).getBytes(StandardCharsets.US_ASCII);
    }

    /** Reads a manifest; an {@link ImageFormatException} names the line that is damaged. */
    public static Map<String, Sums> parse(byte[] file) throws ImageFormatException {
        byte[] data = text(file);
        String text = new String(data, StandardCharsets.US_ASCII);
        Map<String, Sums> out = new TreeMap<>();
        if (!text.startsWith(HEADER + "\n")) {
            throw new ImageFormatException(FILE, 0, "not a manifest of " + BLOCK + "-byte CRC32C blocks (first line: "
                    + firstLine(text) + ")");
        }
        int at = 0;
        while (at < text.length()) {
            int nl = text.indexOf('\n', at);
            if (nl < 0) {
                throw new ImageFormatException(FILE, at, "ends in the middle of a line: the manifest is truncated");
            }
            String line = text.substring(at, nl);
            if (line.startsWith("end ")) {
                CRC32C crc = new CRC32C();
                crc.update(data, 0, at);
                if (!line.equals(String.format("end %08x", (int) crc.getValue()))) {
                    throw new ImageFormatException(FILE, at, "the manifest itself is damaged (its CRC32C is "
                            + String.format("%08x", (int) crc.getValue()) + ", its last line says " + line.substring(4) + ")");
                }
                if (nl + 1 != text.length()) {
                    throw new ImageFormatException(FILE, nl + 1, "bytes after the end line");
                }
                return out;
            }
            if (at > 0) {
                out.put(fileName(line, at), sumsOf(line, at));
            }
            at = nl + 1;
        }
        throw new ImageFormatException(FILE, at, "has no end line: the manifest is truncated");
    }

    private static String fileName(String line, int at) throws ImageFormatException {
        int sp = line.indexOf(' ');
        if (sp <= 0) {
            throw new ImageFormatException(FILE, at, "malformed line: " + line);
        }
        return line.substring(0, sp);
    }

    private static Sums sumsOf(String line, int at) throws ImageFormatException {
        String[] f = line.split(" ");
        try {
            long size = Long.parseLong(f[1]);
            long blocks = (size + BLOCK - 1) / BLOCK;
            if (size < 0 || f.length - 2 != blocks) {
                throw new ImageFormatException(FILE, at, "line of " + f[0] + " has " + (f.length - 2)
                        + " checksums for " + size + " bytes");
            }
            int[] crcs = new int[f.length - 2];
            for (int i = 0; i < crcs.length; i++) {
                crcs[i] = Integer.parseUnsignedInt(f[i + 2], 16);
            }
            return new Sums(size, crcs);
        } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
            throw new ImageFormatException(FILE, at, "malformed line: " + line);
        }
    }

    private static String firstLine(String text) {
        int nl = text.indexOf('\n');
        String l = nl < 0 ? text : text.substring(0, nl);
        return l.length() > 60 ? l.substring(0, 60) + "..." : l;
    }

    /** Whether {@code dir} holds a manifest. */
    public static boolean present(Path dir) {
        return Files.exists(dir.resolve(FILE));
    }

    /** Whether the dump that wrote {@code dir} did not finish (it failed, or was killed). */
    public static boolean incomplete(Path dir) {
        return Files.exists(dir.resolve(INCOMPLETE));
    }

    /**
     * Checks every file the manifest of {@code dir} names against it.
     *
     * @return how many files and bytes were checked
     * @throws ImageFormatException naming the damaged, missing or resized file and the offset of the first
     *                              damaged block (or where the file ends)
     */
    public static long[] verify(Path dir) throws IOException {
        return verify(dir, name -> true, true);
    }

    /**
     * Checks the files the manifest of {@code dir} names that {@code which} accepts, as {@link #verify(Path)};
     * {@code parallel}: on every core for a large set, else on the calling thread alone.
     *
     * @return how many files and bytes were checked
     */
    public static long[] verify(Path dir, java.util.function.Predicate<String> which, boolean parallel)
            throws IOException {
        Map<String, Sums> manifest = parse(Files.readAllBytes(dir.resolve(FILE)));
        List<Map.Entry<String, Sums>> files = new java.util.ArrayList<>();
        for (Map.Entry<String, Sums> e : manifest.entrySet()) {
            if (which.test(e.getKey())) {
                files.add(e);
            }
        }
        long total = 0;
        for (Map.Entry<String, Sums> e : files) {
            total += e.getValue().size();
        }
        // a tree's images are a hundred megabytes of pages in a hundred files: read and summed on every core, the
        // check takes half as long; a small dump's is not worth a thread. Each file's outcome is kept in manifest
        // order, so the first damaged file in it is the one reported.
        List<Object> outcomes = (total < VERIFY_PARALLEL_MIN || !parallel ? files.stream() : files.parallelStream()).map(e -> {
            try {
                return (Object) verify(dir, e.getKey(), e.getValue(), VERIFY_BUFFER.get());
            } catch (IOException x) {
                return x;
            } catch (RuntimeException x) {
                return new IOException(e.getKey() + ": " + x, x);
            }
        }).toList();
        long bytes = 0;
        for (Object o : outcomes) {
            if (o instanceof IOException x) {
                throw x;
            }
            bytes += (Long) o;
        }
        return new long[]{files.size(), bytes};
    }

    /** Each checking thread's block buffer. */
    private static final ThreadLocal<ByteBuffer> VERIFY_BUFFER = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(BLOCK));

    /** Images of at least this many bytes are checked on several threads. */
    static final long VERIFY_PARALLEL_MIN = 16L << 20;

    private static long verify(Path dir, String name, Sums sums, ByteBuffer buf) throws IOException {
        Path file = dir.resolve(name);
        if (!file.normalize().getParent().equals(dir.normalize())) {
            throw new ImageFormatException(FILE, 0, "names a file outside the directory: " + name);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size != sums.size()) {
                throw new ImageFormatException(name, Math.min(size, sums.size()), "the file is " + size
                        + " bytes, the dump wrote " + sums.size() + (size < sums.size() ? " (truncated)" : " (grown)"));
            }
            CRC32C crc = new CRC32C();
            long at = 0;
            for (int i = 0; i < sums.blocks().length; i++) {
                buf.clear().limit((int) Math.min(BLOCK, size - at));
                while (buf.hasRemaining()) {
                    if (ch.read(buf, at + buf.position()) < 0) {
                        throw new ImageFormatException(name, at + buf.position(), "the file ended while being checked");
                    }
                }
                buf.flip();
                crc.reset();
                crc.update(buf);
                int got = (int) crc.getValue();
                if (got != sums.blocks()[i]) {
                    throw new ImageFormatException(name, at, String.format("damaged: the block of bytes %d to %d has "
                                    + "CRC32C %08x, the dump wrote %08x", at, at + buf.limit() - 1, got,
                            sums.blocks()[i]));
                }
                at += buf.limit();
            }
            return size;
        } catch (NoSuchFileException e) {
            throw new ImageFormatException(name, 0, "missing: the dump wrote it (" + FILE + " lists it)");
        }
    }

    private static void requireName(String name) {
        if (name.isEmpty() || name.contains("/") || name.chars().anyMatch(c -> c <= ' ')) {
            throw new IllegalArgumentException("not an image file name: " + name);
        }
    }

    /** A running checksum of one file, fed the bytes in file order as they are written. */
    public static final class Sink implements AutoCloseable {
        /** Records nothing: for a writer whose directory keeps no manifest. */
        public static final Sink NONE = new Sink(null, null);

        private final ImageChecksums owner;
        private final String name;
        private final CRC32C crc = new CRC32C();
        private int[] blocks = new int[4];
        private int count;
        private long size;
        private int inBlock;

        private Sink(ImageChecksums owner, String name) {
            this.owner = owner;
            this.name = name;
        }

        /** Adds the bytes between {@code b}'s position and limit; {@code b} itself is left as it is. */
        public void update(ByteBuffer b) {
            if (owner == null) {
                return;
            }
            if (sealed && b.hasRemaining()) {
                throw new IllegalStateException(name + ": bytes after a short last block");
            }
            ByteBuffer d = b.duplicate();
            int end = d.limit();
            while (d.position() < end) {
                int n = Math.min(end - d.position(), BLOCK - inBlock);
                d.limit(d.position() + n);
                crc.update(d); // advances the position by n
                d.limit(end);
                inBlock += n;
                size += n;
                if (inBlock == BLOCK) {
                    endBlock();
                }
            }
        }

        /**
         * Adds {@code bytes} bytes whose blocks were summed elsewhere ({@code crcs}, one per {@link #BLOCK} bytes in
         * file order, the last one over what is left): a file copied by several threads, each summing its own
         * whole blocks. Only at a block boundary (the file's start is one); a short last block ends the file.
         */
        public void addBlocks(int[] crcs, long bytes) {
            if (owner == null) {
                return;
            }
            if (inBlock != 0 || sealed || crcs.length != (bytes + BLOCK - 1) / BLOCK) {
                throw new IllegalArgumentException(crcs.length + " block sums for " + bytes + " bytes from byte "
                        + size + " of " + name);
            }
            for (int c : crcs) {
                if (count == blocks.length) {
                    blocks = Arrays.copyOf(blocks, count * 2);
                }
                blocks[count++] = c;
            }
            size += bytes;
            sealed = bytes % BLOCK != 0;
        }

        /** A short last block came summed already ({@link #addBlocks}): nothing may follow it. */
        private boolean sealed;

        private void endBlock() {
            if (count == blocks.length) {
                blocks = Arrays.copyOf(blocks, count * 2);
            }
            blocks[count++] = (int) crc.getValue();
            crc.reset();
            inBlock = 0;
        }

        /** The file is complete: its sums join the manifest. */
        @Override
        public void close() {
            if (owner == null) {
                return;
            }
            if (inBlock > 0) {
                endBlock();
            }
            owner.files.put(name, new Sums(size, Arrays.copyOf(blocks, count)));
        }
    }
}
