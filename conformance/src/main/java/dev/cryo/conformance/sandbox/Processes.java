package dev.cryo.conformance.sandbox;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** Host commands with a bound: output goes to files (no pipe can fill up), a command over time is killed. */
final class Processes {
    private static final AtomicInteger SEQUENCE = new AtomicInteger();

    private Processes() {
    }

    static ExecResult run(List<String> argv, Map<String, String> env, Path logDir, Duration timeout, List<String> shownArgv)
            throws SandboxException {
        long start = System.nanoTime();
        int n = SEQUENCE.incrementAndGet();
        try {
            Files.createDirectories(logDir);
            Path out = logDir.resolve(n + ".out");
            Path err = logDir.resolve(n + ".err");
            ProcessBuilder builder = new ProcessBuilder(argv).redirectOutput(out.toFile()).redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
            builder.environment().putAll(env);
            Process process = builder.start();
            boolean done = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!done) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
            return new ExecResult(shownArgv, done ? process.exitValue() : -1, read(out), read(err), !done,
                    Duration.ofNanos(System.nanoTime() - start));
        } catch (IOException e) {
            throw new SandboxException("cannot run " + argv.get(0) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SandboxException("interrupted while running " + String.join(" ", shownArgv), e);
        }
    }

    static String read(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        int limit = Math.min(bytes.length, 1 << 20);
        return new String(bytes, bytes.length - limit, limit, StandardCharsets.UTF_8);
    }

    /** True when {@code name} is an executable on PATH. */
    static boolean onPath(String name) {
        String path = Optional.ofNullable(System.getenv("PATH")).orElse("/usr/bin:/bin");
        for (String dir : path.split(":")) {
            if (Files.isExecutable(Path.of(dir, name))) {
                return true;
            }
        }
        return false;
    }

    static boolean isRoot() {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream()
                    .filter(l -> l.startsWith("Uid:")).findFirst()
                    .map(l -> l.split("\\s+")[1].equals("0")).orElse(false);
        } catch (IOException e) {
            return false;
        }
    }
}
