package dev.cryo.bench.macro;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A finished command: exit code, wall time from start to exit, and its merged output. Commands that are not
 * traced may be started with ProcessBuilder; the checkpoint tools themselves are such commands.
 *
 * @param exitCode  exit status, or -1 when it was killed for running past its bound
 * @param wallNanos from just before start to exit
 */
public record ProcessResult(int exitCode, long wallNanos, String output) {
    /** Runs {@code command} with its output kept in memory, killing it after {@code timeoutSeconds}. */
    public static ProcessResult run(List<String> command, long timeoutSeconds) throws IOException {
        return run(command, timeoutSeconds, java.util.Map.of());
    }

    /** As above, with {@code env} added to the environment. */
    public static ProcessResult run(List<String> command, long timeoutSeconds, java.util.Map<String, String> env)
            throws IOException {
        Path out = Files.createTempFile("cryo-bench-", ".out");
        try {
            return run(command, timeoutSeconds, out, null, env);
        } finally {
            Files.deleteIfExists(out);
        }
    }

    /** Runs {@code command} in {@code workDir} (or the current directory), output to {@code outputFile}. */
    public static ProcessResult run(List<String> command, long timeoutSeconds, Path outputFile, Path workDir)
            throws IOException {
        return run(command, timeoutSeconds, outputFile, workDir, java.util.Map.of());
    }

    /** As above, with {@code env} added to the environment. */
    public static ProcessResult run(List<String> command, long timeoutSeconds, Path outputFile, Path workDir,
                                    java.util.Map<String, String> env) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(outputFile.toFile());
        if (workDir != null) {
            pb.directory(workDir.toFile());
        }
        pb.environment().putAll(env);
        long t0 = System.nanoTime();
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            return new ProcessResult(127, 0, "cannot run " + command.get(0) + ": " + e.getMessage());
        }
        boolean done;
        try {
            done = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + command.get(0), e);
        }
        long wall = System.nanoTime() - t0;
        if (!done) {
            p.destroyForcibly();
            try {
                p.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return new ProcessResult(-1, wall, Files.readString(outputFile, StandardCharsets.UTF_8)
                    + "\n" + command.get(0) + " ran past its bound of " + timeoutSeconds + " s and was killed");
        }
        return new ProcessResult(p.exitValue(), wall, Files.readString(outputFile, StandardCharsets.UTF_8));
    }

    /** The last non-empty line of output: where tools put their error. */
    public String lastLine() {
        String[] lines = output.strip().split("\n");
        return lines.length == 0 || lines[lines.length - 1].isBlank() ? "exit " + exitCode : lines[lines.length - 1].strip();
    }
}
