package dev.cryo.image;

import com.google.protobuf.Message;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One CRIU image file: its magic and its entries. Immutable.
 * <p>
 * Binary layout: leading magic ({@link Magic#IMG_COMMON} or {@link Magic#IMG_SERVICE}, absent for inventory),
 * the image's own magic, then entries, each a 32-bit little-endian size, that many bytes of protobuf, and for
 * some types a raw payload (see {@link ImageType.Payload}).
 */
public final class ImageFile {
    private final Magic magic;
    private final List<ImageEntry> records;

    private ImageFile(Magic magic, List<ImageEntry> records) {
        this.magic = magic;
        this.records = List.copyOf(records);
    }

    /** An image of type {@code magicName} ("CORE", "PAGEMAP", ...) with entries that carry no payload. */
    public static ImageFile of(String magicName, List<? extends Message> entries) {
        List<ImageEntry> records = new ArrayList<>(entries.size());
        for (Message m : entries) {
            records.add(ImageEntry.of(m));
        }
        return ofRecords(magicName, records);
    }

    /** An image of type {@code magicName} with entries that may carry payloads. */
    public static ImageFile ofRecords(String magicName, List<ImageEntry> records) {
        Magic magic = Magic.byName(magicName)
                .orElseThrow(() -> new IllegalArgumentException("unknown image magic " + magicName));
        return new ImageFile(magic, records);
    }

    /** crit's name of this image's magic, e.g. "CORE". */
    public String magicName() {
        return magic.name();
    }

    public Magic magic() {
        return magic;
    }

    /** The protobuf messages, in file order. */
    public List<Message> entries() {
        List<Message> out = new ArrayList<>(records.size());
        for (ImageEntry r : records) {
            out.add(r.message());
        }
        return out;
    }

    /** The messages cast to {@code type}; fails if an entry has another type. */
    public <T extends Message> List<T> entries(Class<T> type) {
        List<T> out = new ArrayList<>(records.size());
        for (ImageEntry r : records) {
            out.add(type.cast(r.message()));
        }
        return out;
    }

    /** Messages with their payloads, in file order. */
    public List<ImageEntry> records() {
        return records;
    }

    /** Raw bytes stored after entry {@code index}; empty when the type has none. */
    public byte[] payload(int index) {
        return records.get(index).payload();
    }

    /** Reads an image file; the exception names the file and offset of any defect. */
    public static ImageFile read(Path path) throws IOException {
        String name = path.getFileName() == null ? path.toString() : path.getFileName().toString();
        long size = Files.size(path);
        if (size > ImageReader.MAX_FILE_SIZE) {
            throw new ImageFormatException(name, 0, "file of " + size + " bytes is larger than the "
                    + ImageReader.MAX_FILE_SIZE + " bytes an image may have");
        }
        return read(name, Files.readAllBytes(path));
    }

    /** Decodes image bytes; {@code name} is used in error messages. */
    public static ImageFile read(String name, byte[] data) throws ImageFormatException {
        return new ImageReader(name, data).read();
    }

    /** Writes the image to {@code path}, replacing it. */
    public void write(Path path) throws IOException {
        Files.write(path, toBytes());
    }

    /** The binary image. Fails if an entry has the wrong type, misses required fields or mismatches its payload. */
    public byte[] toBytes() throws ImageFormatException {
        return ImageWriter.write(this);
    }

    /** The framing and entries with their payloads left out (each empty), for a writer that appends the payload. */
    byte[] toBytesUnchecked() throws ImageFormatException {
        return ImageWriter.write(this, false);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ImageFile f && magic.equals(f.magic) && records.equals(f.records);
    }

    @Override
    public int hashCode() {
        return Objects.hash(magic, records);
    }

    @Override
    public String toString() {
        return "ImageFile{" + magic.name() + ", " + records.size() + " entries}";
    }
}
