package dev.cryo.engine.cli;

import java.nio.file.Path;

/**
 * The directory a command line's relative paths are read against. A fresh cryo reads them against its own working
 * directory. The resident service serves callers in other directories: for the length of a request it moves to the
 * caller's (chdir, for the paths the engine hands to the kernel as they are) and sets it here, because the JDK reads
 * its own working directory once, at start, and {@code Path.toAbsolutePath} keeps using that one.
 */
final class WorkingDirectory {
    /** The caller's directory during a request of the resident service; null otherwise. */
    private static volatile Path caller;

    private WorkingDirectory() {
    }

    /** {@code given} as an absolute, normalised path. */
    static Path absolute(String given) {
        Path p = Path.of(given);
        Path base = caller;
        return (p.isAbsolute() || base == null ? p.toAbsolutePath() : base.resolve(p)).normalize();
    }

    /** The resident service, around one request: the caller's directory, or null after it. */
    static void use(Path callerDirectory) {
        caller = callerDirectory;
    }
}
