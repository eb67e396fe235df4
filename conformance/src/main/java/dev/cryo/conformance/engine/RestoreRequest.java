package dev.cryo.conformance.engine;

import java.nio.file.Path;
import java.util.List;

/** One restore: {@code restore -D imagesDir -o log -v4 -d options}. */
public record RestoreRequest(Path imagesDir, String log, List<String> options) {
    public RestoreRequest {
        options = List.copyOf(options);
    }
}
