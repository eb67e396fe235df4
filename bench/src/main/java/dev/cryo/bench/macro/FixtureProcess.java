package dev.cryo.bench.macro;

import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One fixture process, from start to verdict (protocol in fixtures-c/lib/fx.h). It runs in its own session
 * ({@code setsid}), with stdin on /dev/null and stdout/stderr in files, so the dump sees nothing of the harness.
 * ProcessBuilder is fine here: the harness never traces it, the checkpoint tool does.
 */
public final class FixtureProcess {
    static final int SIGUSR2 = 12;
    static final long POLL_NANOS = 2_000_000;

    private final Workload workload;
    private final Process process;
    private final Path workDir;
    private final int pid;
    /** The fixture and its descendants once it was ready, the root first (one pid but for a tree). */
    private final List<Integer> tree;

    private FixtureProcess(Workload workload, Process process, Path workDir, int pid) throws IOException {
        this.workload = workload;
        this.process = process;
        this.workDir = workDir;
        this.pid = pid;
        this.tree = descendants(pid);
    }

    /** {@code root} and every process below it, parents first, from /proc/PID/task/TID/children. */
    static List<Integer> descendants(int root) throws IOException {
        List<Integer> out = new ArrayList<>(List.of(root));
        for (int i = 0; i < out.size(); i++) {
            Path tasks = Path.of("/proc", Integer.toString(out.get(i)), "task");
            try (var tids = Files.list(tasks)) {
                for (Path tid : (Iterable<Path>) tids::iterator) {
                    String kids = Files.readString(tid.resolve("children"), StandardCharsets.UTF_8).strip();
                    for (String k : kids.isEmpty() ? new String[0] : kids.split("\\s+")) {
                        out.add(Integer.parseInt(k));
                    }
                }
            } catch (java.nio.file.NoSuchFileException e) {
                // exited meanwhile: nothing below it
            }
        }
        return out;
    }

    /** The fixture's processes as they were when it was ready, the root first. */
    public List<Integer> tree() {
        return tree;
    }

    /** Starts the fixture and waits (bounded) until it says it is ready to be dumped. */
    public static FixtureProcess start(Workload w, Path fixturesDir, Path workDir, Duration bound) throws IOException {
        Path binary = w.binary(fixturesDir);
        if (!Files.isExecutable(binary)) {
            throw new IOException("fixture " + binary + " is missing: run `make fixtures`");
        }
        Files.createDirectories(workDir);
        Path ready = workDir.resolve("ready");
        Files.deleteIfExists(ready);
        Files.deleteIfExists(workDir.resolve("result"));
        List<String> cmd = new ArrayList<>(List.of("setsid", binary.toString()));
        cmd.addAll(w.args());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(workDir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(workDir.resolve("stdout").toFile())
                .redirectError(workDir.resolve("stderr").toFile());
        pb.environment().put("CRYO_FX_READY", ready.toString());
        pb.environment().put("CRYO_FX_RESULT", workDir.resolve("result").toString());
        Process p = pb.start();
        long deadline = System.nanoTime() + bound.toNanos();
        while (true) {
            String text = Files.exists(ready) ? Files.readString(ready, StandardCharsets.UTF_8).strip() : "";
            if (!text.isEmpty()) {
                return new FixtureProcess(w, p, workDir, Integer.parseInt(text));
            }
            if (!p.isAlive()) {
                throw new IOException("fixture " + w.name() + " exited " + p.exitValue() + " before it was ready: "
                        + tail(workDir.resolve("stderr")));
            }
            if (System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new IOException("fixture " + w.name() + " was not ready within " + bound.toSeconds() + " s");
            }
            LockSupport.parkNanos(POLL_NANOS);
        }
    }

    public int pid() {
        return pid;
    }

    public Workload workload() {
        return workload;
    }

    /**
     * Private anonymous memory of the process (smaps_rollup "Anonymous"), what a dump must copy at least; of a tree,
     * the sum over its processes (pages they still share copy-on-write counted in each).
     */
    public long anonymousBytes() throws IOException {
        long total = 0;
        for (int p : tree) {
            total += anonymousBytes(p);
        }
        return total;
    }

    private static long anonymousBytes(int pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Integer.toString(pid), "smaps_rollup"))) {
            if (line.startsWith("Anonymous:")) {
                return Long.parseLong(line.substring(10).replace("kB", "").strip()) * 1024;
            }
        }
        throw new IOException("/proc/" + pid + "/smaps_rollup has no Anonymous line");
    }

    /** After a dump: the original process must be gone (the tool kills it); true once the JDK has reaped it. */
    public boolean awaitExit(Duration bound) {
        try {
            return process.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    public boolean originalAlive() {
        return process.isAlive();
    }

    /**
     * Kills the original process and what is left of its tree (a failed dump must leave it running; the bench does
     * not need it any more), and reaps the orphans, which come to the harness (the child subreaper).
     */
    public void killOriginal() {
        process.destroyForcibly();
        awaitExit(Duration.ofSeconds(10));
        for (int p : tree.subList(1, tree.size())) {
            ChildReaper.kill(p);
        }
    }

    /**
     * After a dump that killed the tree: every process of it is gone and reaped (orphans are the harness's to
     * reap), so that the restore finds every pid free. False if one still exists after {@code bound}.
     */
    public boolean awaitTreeGone(Duration bound) {
        for (int p : tree.subList(1, tree.size())) {
            if (ChildReaper.reap(p, bound) == null) {
                return false;
            }
        }
        return true;
    }

    /**
     * Asks the restored process (same pid) for its verdict and waits for it to exit. Returns "PASS",
     * "FAIL: why", or what happened instead; the process is gone afterwards either way.
     */
    public String verdictOfRestored(Duration bound) throws IOException {
        Path result = workDir.resolve("result");
        try {
            ChildReaper.signal(pid, SIGUSR2);
        } catch (SyscallException e) {
            String how = ChildReaper.reap(pid, Duration.ofSeconds(1));
            return "restored process is gone (" + (how == null ? e.getMessage() : how) + ")";
        }
        long deadline = System.nanoTime() + bound.toNanos();
        while (true) {
            // looked at before the result: a fixture writes its verdict, then exits
            boolean dead = !ChildReaper.alive(pid);
            if (Files.exists(result)) {
                String verdict = Files.readString(result, StandardCharsets.UTF_8).strip();
                String how = ChildReaper.reap(pid, Duration.ofSeconds(30));
                if (how == null) {
                    ChildReaper.kill(pid);
                }
                return verdict.isEmpty() ? "empty verdict" : verdict;
            }
            if (dead) {
                String how = ChildReaper.reap(pid, Duration.ofSeconds(5));
                return "restored process died without a verdict (" + how + "): " + tail(workDir.resolve("stderr"));
            }
            if (System.nanoTime() > deadline) {
                ChildReaper.kill(pid);
                return "no verdict within " + bound.toSeconds() + " s";
            }
            LockSupport.parkNanos(POLL_NANOS);
        }
    }

    private static String tail(Path file) {
        try {
            String s = Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8).strip() : "";
            String[] lines = s.split("\n");
            return s.isEmpty() ? "(no output)" : lines[lines.length - 1];
        } catch (IOException e) {
            return "(cannot read " + file + ")";
        }
    }
}
