package dev.cryo.conformance.sandbox;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * What a sandbox must make visible: the repository (fixtures, bin/cryo, mutants), the case's work
 * directory (writable: fixture output, images), and any other host paths an engine needs.
 * Paths inside are the same as on the host.
 */
public record SandboxSetup(Path repo, Path workDir, List<Path> extraMounts) {
    public SandboxSetup {
        repo = repo.toAbsolutePath().normalize();
        workDir = workDir.toAbsolutePath().normalize();
        extraMounts = List.copyOf(extraMounts);
    }

    public Path initBinary() {
        return repo.resolve("fixtures-c/build/cryo-init");
    }

    /**
     * Before a sandbox starts: its init must be built, and the work directory ready with no marker left from an
     * earlier start. Returns the marker path that init writes once the sandbox runs.
     */
    public Path prepareStart() throws SandboxException {
        Path init = initBinary();
        if (!Files.isExecutable(init)) {
            throw new SandboxException(init + " is not built (run `make fixtures`)");
        }
        Path ready = workDir.resolve(".sandbox-ready");
        try {
            Files.createDirectories(workDir);
            Files.deleteIfExists(ready);
        } catch (IOException e) {
            throw new SandboxException("cannot prepare " + workDir + ": " + e.getMessage(), e);
        }
        return ready;
    }
}
