package dev.cryo.conformance.engine;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * One dump or pre-dump: {@code -t pid -D imagesDir -o log -v4 [--track-mem] [--prev-images-dir prev] [-R] options}.
 * {@code previousImages} is relative to {@code imagesDir}, as CRIU reads it.
 */
public record DumpRequest(int pid, Path imagesDir, String log, boolean leaveRunning, boolean trackMem,
                          Optional<String> previousImages, List<String> options) {
    public DumpRequest {
        options = List.copyOf(options);
    }
}
