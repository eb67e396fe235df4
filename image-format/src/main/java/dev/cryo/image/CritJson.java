package dev.cryo.image;

/**
 * crit's JSON rendering of images ({@code crit decode --pretty} / {@code crit encode}):
 * {@code {"magic": "CORE", "entries": [...]}} with hex strings, flag strings, enum names, dev numbers,
 * IP addresses and base64 payloads exactly as crit writes them.
 */
public final class CritJson {
    private CritJson() {
    }

    /** The image as {@code crit decode --pretty} prints it (4-space indent, ASCII only), without trailing newline. */
    public static String toJson(ImageFile img) {
        throw new UnsupportedOperationException("not yet");
    }

    /** Parses crit JSON back into an image; {@code sourceName} and the character offset appear in errors. */
    public static ImageFile fromJson(String json, String sourceName) throws ImageFormatException {
        throw new UnsupportedOperationException("not yet");
    }
}
