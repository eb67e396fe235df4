package dev.cryo.conformance.cases;

import java.nio.file.Path;

/**
 * A real program from a Debian package, driven by the shell scripts in {@code conformance/apps/DIR}:
 * {@code start} runs it as its package does and leaves the pid to dump in {@code $WORK/app.pid};
 * {@code fill} puts state in through the program's own client; {@code load}, if present, is a client kept
 * running in the background across the dumps and restores; {@code check} judges the state through the
 * client after each restore; {@code finish}, if present, ends the load and judges it; {@code stop}, if present,
 * shuts the program down its own way once the case is over (whatever its outcome; nothing judged), before the
 * sandbox kills what is left. The scripts run inside
 * the sandbox with WORK (the case's work directory), LOCAL (the case's own directory on the sandbox's file
 * system: {@link dev.cryo.conformance.sandbox.Sandbox#localDir()}), APP (their directory), REPO and {@code env}
 * set, and say why they failed on their last line. The program's own answers are the verdict.
 */
public record App(String program, String dir, java.util.Map<String, String> env) {
    public App {
        env = java.util.Map.copyOf(env);
    }

    public App(String program, String dir) {
        this(program, dir, java.util.Map.of());
    }

    /** The scripts' directory in the repository. */
    public Path scripts(Path repo) {
        return repo.resolve("conformance/apps").resolve(dir);
    }

    @Override
    public String toString() {
        return program;
    }
}
