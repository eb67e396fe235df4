package dev.cryo.image;

import java.io.IOException;

/**
 * An image file (binary or crit JSON) that cannot be read: wrong magic, truncated entry, oversized entry,
 * malformed protobuf or JSON. The message always names the file and the byte (binary) or character (JSON)
 * offset where reading stopped, e.g. {@code core-1.img: offset 24: entry size 4294967295 exceeds the 64 MiB limit}.
 */
public final class ImageFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String file;
    private final long offset;

    /** @param file name of the image, as the user knows it; @param offset where the problem is; @param problem what is wrong */
    public ImageFormatException(String file, long offset, String problem) {
        super(file + ": offset " + offset + ": " + problem);
        this.file = file;
        this.offset = offset;
    }

    public ImageFormatException(String file, long offset, String problem, Throwable cause) {
        this(file, offset, problem);
        initCause(cause);
    }

    /** The image file name given to the reader. */
    public String file() {
        return file;
    }

    /** Byte offset (binary images) or character offset (JSON) of the problem. */
    public long offset() {
        return offset;
    }
}
