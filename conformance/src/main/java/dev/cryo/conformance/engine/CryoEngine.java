package dev.cryo.conformance.engine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** Cryo itself: the repository's {@code bin/cryo}, which runs {@code engine/target/cryo.jar}. */
public record CryoEngine(Path repo) implements Engine {

    @Override
    public String name() {
        return "cryo";
    }

    @Override
    public Path binary() {
        return repo.resolve("bin/cryo");
    }

    /** Cryo dumps and restores process trees with their threads: no known gap left. */
    @Override
    public Set<Feature> knownGaps() {
        return Set.of();
    }

    @Override
    public List<Path> mounts() {
        return List.of();
    }

    /** Why this engine cannot run yet, if it cannot: bin/cryo would build the jar, which a sandbox cannot. */
    @Override
    public Optional<String> unusableReason() {
        if (!Files.isRegularFile(repo.resolve("engine/target/cryo.jar"))) {
            return Optional.of("engine/target/cryo.jar is not built (run `make build`)");
        }
        return Optional.empty();
    }
}
