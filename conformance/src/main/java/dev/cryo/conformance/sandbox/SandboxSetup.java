package dev.cryo.conformance.sandbox;

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
}
