package dev.cryo.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code --resident}: a resident service ({@code cryo service --resident}) in a directory of the run's own, started
 * and warmed up before the first row and stopped at the end, which the "cryo-resident" rows hand their commands to.
 */
final class ResidentRun {
    private final Path root;
    private final Path dir;
    private final Process process;

    private ResidentRun(Path root, Path dir, Process process) {
        this.root = root;
        this.dir = dir;
        this.process = process;
    }

    static ResidentRun start(Path root) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("cryo-bench-resident"); // root's, 0700
        Path log = root.resolve("bench/target/resident-service.log");
        Files.createDirectories(log.getParent());
        Process p = new ProcessBuilder(root.resolve("bin/cryo").toString(), "service", "--resident", "--dir",
                dir.toString(), "-o", log.toString(), "-v3")
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
        System.err.println("[bench] starting the resident service in " + dir + " (it warms up first)...");
        // the service writes its pid file once warmed up; the harness is not a test: it polls
        while (!Files.exists(dir.resolve("pid"))) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new IOException("the service ended or took over 5 minutes to start; see " + log);
            }
            p.waitFor(100, TimeUnit.MILLISECONDS);
        }
        return new ResidentRun(root, dir, p);
    }

    Map<String, String> env() {
        return Map.of("CRYO_RESIDENT_DIR", dir.toString());
    }

    void stop() {
        try {
            new ProcessBuilder(List.of(root.resolve("bin/cryo").toString(), "service", "--resident", "--stop", "--dir",
                    dir.toString())).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
                    .waitFor(10, TimeUnit.MINUTES);
            if (!process.waitFor(1, TimeUnit.MINUTES)) {
                process.destroyForcibly();
            }
            try (var left = Files.list(dir)) { // spools of the last callers, which the service leaves to them
                for (Path p : left.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        } catch (IOException | InterruptedException e) {
            process.destroyForcibly();
        }
    }
}
