package dev.cryo.conformance.engine;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * One engine's images restored by another ({@code make conformance RESTORE_ENGINE=...}): {@code dumper} runs every dump
 * and pre-dump, {@code restorer} every restore. With Cryo dumping and CRIU restoring, each case shows that Cryo's
 * images are CRIU's images, down to what CRIU's restore reads from them; the other way round, that Cryo restores
 * what CRIU wrote.
 */
public record EnginePair(Engine dumper, Engine restorer) implements Engine {

    @Override
    public String name() {
        return dumper.name() + "->" + restorer.name();
    }

    @Override
    public Path binary() {
        return dumper.binary();
    }

    @Override
    public Map<String, String> environment() {
        Map<String, String> env = new HashMap<>(dumper.environment());
        env.putAll(restorer.environment());
        return env;
    }

    /** What either cannot do. */
    @Override
    public Set<Feature> knownGaps() {
        Set<Feature> gaps = new LinkedHashSet<>(dumper.knownGaps());
        gaps.addAll(restorer.knownGaps());
        return gaps;
    }

    @Override
    public List<Path> mounts() {
        Set<Path> all = new LinkedHashSet<>(dumper.mounts());
        all.addAll(restorer.mounts());
        return List.copyOf(all);
    }

    @Override
    public Optional<String> unusableReason() {
        return dumper.unusableReason().or(restorer::unusableReason);
    }

    @Override
    public List<String> dump(DumpRequest request) {
        return dumper.dump(request);
    }

    @Override
    public List<String> preDump(DumpRequest request) {
        return dumper.preDump(request);
    }

    @Override
    public List<String> restore(RestoreRequest request) {
        return restorer.restore(request);
    }
}
