package dev.cryo.conformance.engine;

import java.nio.file.Path;
import java.util.Map;

/** Any CRIU-compatible binary: CRIU itself ({@code ENGINE=/path/to/criu}), or a wrapper such as a mutant. */
public record CriuEngine(String name, Path binary, Map<String, String> environment) implements Engine {

    public CriuEngine {
        environment = Map.copyOf(environment);
    }

    public static CriuEngine at(Path binary) {
        return new CriuEngine(binary.getFileName().toString(), binary.toAbsolutePath(), Map.of());
    }
}
