package dev.cryo.conformance.run;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Which dirty-page trackers Cryo's (pre-)dumps of a case armed, from the {@code cryo-track} file each leaves
 * in its images directory (line {@code tracker NAME}). A sandbox whose kernel is known (the VM's 6.1: soft-dirty,
 * no {@code PAGEMAP_SCAN}) names the one it must be, so a silent fall-back to content hashes fails the case.
 */
final class TrackersArmed {
    private TrackersArmed() {
    }

    /** The trackers named under {@code workDir}, sorted; empty when no dump armed one (or the engine is not Cryo). */
    static Set<String> in(Path workDir) {
        Set<String> names = new TreeSet<>();
        if (!Files.isDirectory(workDir)) {
            return names;
        }
        try (Stream<Path> walk = Files.walk(workDir)) {
            for (Path f : walk.filter(p -> p.getFileName().toString().equals("cryo-track")).toList()) {
                for (String line : Files.readAllLines(f)) {
                    if (line.startsWith("tracker ")) {
                        names.add(line.substring("tracker ".length()).strip());
                    }
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            // a directory that went away while walked: what was read stands
        }
        return names;
    }

    /** Why the trackers seen break the sandbox's expectation, or empty when they keep to it. */
    static Optional<String> unexpected(Set<String> seen, Optional<String> expected) {
        if (expected.isEmpty() || seen.isEmpty() || seen.equals(Set.of(expected.get()))) {
            return Optional.empty();
        }
        return Optional.of("the dumps armed " + String.join(", ", seen) + " where this sandbox's kernel offers "
                + expected.get() + " (and nothing better)");
    }
}
