package dev.cryo.engine.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * A process under test, started through a shell that exits at once so that the process is not a child of the
 * test JVM (whose process reaper would otherwise steal its wait statuses). Output goes to a file.
 */
public final class Target implements AutoCloseable {
    private final int pid;
    private final Path out;

    private Target(int pid, Path out) {
        this.pid = pid;
        this.out = out;
    }

    public static Target start(Path exe, Path out, String... args) throws IOException, InterruptedException {
        StringBuilder cmd = new StringBuilder("cd '" + out.getParent() + "' && '" + exe + "'");
        for (String a : args) {
            cmd.append(" '").append(a).append("'");
        }
        cmd.append(" > '").append(out).append("' 2>&1 < /dev/null & echo $!");
        Process sh = new ProcessBuilder("sh", "-c", cmd.toString()).redirectErrorStream(true).start();
        String pid = new String(sh.getInputStream().readAllBytes()).strip();
        sh.waitFor(10, TimeUnit.SECONDS);
        return new Target(Integer.parseInt(pid), out);
    }

    /** Adopts a pid (a restored process) so the test cleans it up too. */
    public static Target adopt(int pid, Path out) {
        return new Target(pid, out);
    }

    public int pid() {
        return pid;
    }

    public Path out() {
        return out;
    }

    public List<String> lines() throws IOException {
        return Files.readAllLines(out);
    }

    public boolean alive() {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) && !zombie();
    }

    private boolean zombie() {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (IOException e) {
            return true;
        }
    }

    /** Waits until the output has at least {@code n} lines. */
    public void awaitLines(int n) {
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20))
                .until(() -> Files.exists(out) && lines().size() >= n);
    }

    /** Kills the target and its descendants (a child in a session of its own would outlive it otherwise). */
    @Override
    public void close() {
        ProcessHandle.of(pid).ifPresent(h -> {
            h.descendants().forEach(ProcessHandle::destroyForcibly);
            h.destroyForcibly();
        });
        Reaper.reap(pid);
    }
}
