package dev.cryo.conformance.engine;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A checkpoint/restore engine driven by CRIU's command line. Every engine gets the same command
 * lines; only the binary (and the environment it runs in) differ.
 */
public interface Engine {

    /** Short name for reports: {@code cryo}, {@code criu}, or a mutant's name. */
    String name();

    /** The executable, as a path that is valid inside the sandbox as well (sandboxes share paths). */
    Path binary();

    /** Extra environment for the engine's process (mutant wrappers use it to find their inner engine). */
    default Map<String, String> environment() {
        return Map.of();
    }

    /**
     * What this engine does not handle yet and refuses with a clear error: a case needing one of them
     * runs anyway and ends {@code xfail} when refused, {@code xpass} (a failure) when it passes. None by default.
     */
    default Set<Feature> knownGaps() {
        return Set.of();
    }

    /** Why this engine cannot run yet, if it cannot. */
    default Optional<String> unusableReason() {
        return Optional.empty();
    }

    /** Host paths the engine needs visible inside a container, besides the repository. */
    default List<Path> mounts() {
        return List.of(binary().toAbsolutePath().getParent());
    }

    default List<String> dump(DumpRequest request) {
        List<String> argv = new ArrayList<>(List.of(binary().toString(), "dump"));
        addTreeOptions(argv, request);
        if (request.leaveRunning()) {
            argv.add("-R");
        }
        return argv;
    }

    default List<String> preDump(DumpRequest request) {
        List<String> argv = new ArrayList<>(List.of(binary().toString(), "pre-dump"));
        addTreeOptions(argv, request);
        return argv;
    }

    default List<String> restore(RestoreRequest request) {
        List<String> argv = new ArrayList<>(List.of(binary().toString(), "restore",
                "-D", request.imagesDir().toString(), "-o", request.log(), "-v4", "-d"));
        argv.addAll(request.options());
        return argv;
    }

    private static void addTreeOptions(List<String> argv, DumpRequest request) {
        argv.addAll(List.of("-t", Integer.toString(request.pid()), "-D", request.imagesDir().toString(),
                "-o", request.log(), "-v4"));
        if (request.trackMem()) {
            argv.add("--track-mem");
        }
        request.previousImages().ifPresent(prev -> argv.addAll(List.of("--prev-images-dir", prev)));
        argv.addAll(request.options());
    }
}
