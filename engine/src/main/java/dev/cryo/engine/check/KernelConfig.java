package dev.cryo.engine.check;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

/** The running kernel's build configuration from {@code /proc/config.gz}, where the kernel exposes it. */
public final class KernelConfig {
    private final String text;

    private KernelConfig(String text) {
        this.text = text;
    }

    /** The running kernel's configuration, or empty when it does not publish one. */
    public static Optional<KernelConfig> running() {
        Path gz = Path.of("/proc/config.gz");
        if (!Files.isReadable(gz)) {
            return Optional.empty();
        }
        try (InputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
            return Optional.of(new KernelConfig(new String(in.readAllBytes(), StandardCharsets.UTF_8)));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    public static KernelConfig of(String text) {
        return new KernelConfig(text);
    }

    /** "y" or "m" when set, "n" when "is not set", empty when the option is not mentioned at all. */
    public Optional<String> value(String option) {
        for (String line : text.split("\n")) {
            if (line.startsWith(option + "=")) {
                return Optional.of(line.substring(option.length() + 1));
            }
            if (line.equals("# " + option + " is not set")) {
                return Optional.of("n");
            }
        }
        return Optional.empty();
    }
}
