package dev.cryo.engine.cli;

import dev.cryo.image.ImageFile;
import dev.cryo.image.ImageFormatException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** What {@code show}, {@code decode} and {@code encode} share: reading the input the way crit does. */
final class ImageCommands {
    private ImageCommands() {
    }

    /** The bytes of {@code in}, or of stdin when it is null, as crit's {@code -i} does. */
    static byte[] input(String in, Session session) throws IOException {
        if (in == null || in.equals("-")) {
            InputStream stdin = session.in;
            return stdin.readAllBytes();
        }
        return Files.readAllBytes(Path.of(in));
    }

    static String inputName(String in) {
        return in == null || in.equals("-") ? "stdin" : in;
    }

    /** Decodes one image; raw page files get a hint, since they have no magic to decode. */
    static ImageFile decode(String name, byte[] data) throws ImageFormatException {
        try {
            return ImageFile.read(name, data);
        } catch (ImageFormatException e) {
            String file = Path.of(name).getFileName() == null ? name : Path.of(name).getFileName().toString();
            if (file.startsWith("pages-") && file.endsWith(".img")) {
                throw new ImageFormatException(name, 0, "raw memory pages, not an image with entries");
            }
            throw e;
        }
    }
}
