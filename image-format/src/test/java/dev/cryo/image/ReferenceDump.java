package dev.cryo.image;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** The CRIU 4.2 reference dump, found relative to the repository (../shared/reference beside the clone). */
final class ReferenceDump {
    private ReferenceDump() {
    }

    static Path dir() {
        // Surefire runs with the module directory as working directory.
        Path module = Path.of("").toAbsolutePath();
        Path dir = module.resolve("../../shared/reference/criu-4.2-counter").normalize();
        Assumptions.assumeTrue(Files.isDirectory(dir), "reference dump not found at " + dir);
        return dir;
    }

    static List<Path> jsonFiles() throws IOException {
        try (Stream<Path> s = Files.list(dir())) {
            return s.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
        }
    }
}
