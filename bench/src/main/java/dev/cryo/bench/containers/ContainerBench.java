package dev.cryo.bench.containers;

import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.stats_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code make bench}'s container part: {@code runc checkpoint} and {@code runc restore -d} of a counting container
 * (the static counter as its init, its own pid, mount, uts, ipc and net namespaces), with Cryo as runc's CRIU and,
 * when one is given, CRIU, taking turns in one run; then the same with Podman ({@code podman container checkpoint}
 * and {@code restore}, the tool first on PATH as {@code criu}, Podman's default seccomp profile and capabilities,
 * {@code --network=none}), when podman is installed. Per checkpoint: runc's wall time for the checkpoint (which
 * ends the container), the frozen time from stats-dump, runc's wall time for the restore into a new container from
 * the same bundle; then the restored count must go on from the last line before the checkpoint. Medians of the
 * repetitions, written to bench/target/bench-results/containers-DATE.md and containers-latest.md.
 * <p>
 * {@code java -cp bench/target/benchmarks.jar dev.cryo.bench.containers.ContainerBench --root=REPO [--criu=PATH]
 * [--reps=N]}. Skips, saying why, without root or runc. Exit status 1 when a tool failed a repetition.
 */
public final class ContainerBench {
    private static final Path RUNC = Path.of("/usr/sbin/runc");
    private static final Path PODMAN = Path.of("/usr/bin/podman");

    private ContainerBench() {
    }

    /** One tool's repetitions: walls and frozen times in ms, and what failed. */
    private static final class Runs {
        final List<Double> checkpoint = new ArrayList<>(), restore = new ArrayList<>(), frozen = new ArrayList<>();
        final List<String> failures = new ArrayList<>();
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of("").toAbsolutePath();
        String criu = null;
        int reps = 3;
        for (String a : args) {
            if (a.startsWith("--root=")) {
                root = Path.of(a.substring(7)).toAbsolutePath();
            } else if (a.startsWith("--criu=")) {
                criu = a.substring(7).isBlank() ? null : a.substring(7);
            } else if (a.startsWith("--reps=")) {
                reps = Integer.parseInt(a.substring(7));
            } else {
                System.err.println("usage: ContainerBench [--root=REPO] [--criu=PATH] [--reps=N]");
                System.exit(2);
            }
        }
        if (!"root".equals(System.getProperty("user.name")) || !Files.isExecutable(RUNC)) {
            System.out.println("container bench skipped: it needs root and runc (" + RUNC + "; .ci/provision installs it)");
            return;
        }
        Path counter = root.resolve("fixtures-c/build/counter-static");
        if (!Files.isExecutable(counter)) {
            System.out.println("container bench skipped: " + counter + " is not built (make fixtures)");
            return;
        }
        Map<String, String> tools = new LinkedHashMap<>();
        tools.put("cryo", root.resolve("bin/cryo").toString());
        if (criu != null) {
            tools.put("criu", Path.of(criu).toAbsolutePath().toString());
        }
        Path work = Files.createTempDirectory(Path.of("/var/tmp"), "cryo-bench-containers-");
        Map<String, Runs> runs = new LinkedHashMap<>();
        tools.keySet().forEach(t -> runs.put(t, new Runs()));
        long started = System.nanoTime();
        try {
            Path bundle = bundle(work, counter);
            for (int rep = 1; rep <= reps; rep++) {
                for (Map.Entry<String, String> tool : tools.entrySet()) { // turns: cryo, criu, cryo, criu...
                    Runs r = runs.get(tool.getKey());
                    try {
                        once(work, bundle, tool.getKey() + "-" + rep, tool.getValue(), r);
                    } catch (Exception e) {
                        r.failures.add("rep " + rep + ": " + e.getMessage());
                    }
                }
            }
            if (Files.isExecutable(PODMAN)) {
                String image = "localhost/cryo-bench-counter-" + ProcessHandle.current().pid() + ":latest";
                run(List.of("tar", "-C", bundle.resolve("rootfs").toString(), "-cf", work.resolve("rootfs.tar").toString(),
                        "."), Duration.ofSeconds(60));
                run(List.of(PODMAN.toString(), "import", work.resolve("rootfs.tar").toString(), image), Duration.ofSeconds(120));
                try {
                    for (String t : tools.keySet()) {
                        runs.put("podman, " + t, new Runs());
                    }
                    for (int rep = 1; rep <= reps; rep++) {
                        for (Map.Entry<String, String> tool : tools.entrySet()) {
                            Runs r = runs.get("podman, " + tool.getKey());
                            try {
                                oncePodman(work, image, tool.getKey() + "-" + rep, tool.getValue(), r);
                            } catch (Exception e) {
                                r.failures.add("rep " + rep + ": " + e.getMessage());
                            }
                        }
                    }
                } finally {
                    run(List.of(PODMAN.toString(), "rmi", "-f", image), Duration.ofSeconds(120));
                }
            } else {
                System.out.println("container bench: podman rows skipped: " + PODMAN + " is not installed");
            }
        } finally {
            deleteTree(work);
        }
        String table = table(runs, reps, (System.nanoTime() - started) / 1_000_000_000L);
        System.out.println(table);
        Path results = root.resolve("bench/target/bench-results");
        Files.createDirectories(results);
        String stamp = DateTimeFormatter.ofPattern("yyyy-MM-dd-HHmm").format(java.time.ZonedDateTime.now(ZoneOffset.UTC));
        Files.writeString(results.resolve("containers-" + stamp + ".md"), table);
        Files.writeString(results.resolve("containers-latest.md"), table);
        System.exit(runs.values().stream().anyMatch(r -> !r.failures.isEmpty()) ? 1 : 0);
    }

    /** A bundle whose rootfs holds only the static counter, counting every 10 ms, line-buffered. */
    private static Path bundle(Path work, Path counter) throws Exception {
        Path bundle = work.resolve("bundle");
        Path rootfs = Files.createDirectories(bundle.resolve("rootfs"));
        for (String d : List.of("proc", "dev", "sys", "tmp")) {
            Files.createDirectories(rootfs.resolve(d));
        }
        Files.copy(counter, rootfs.resolve("counter"));
        run(List.of(RUNC.toString(), "spec", "--bundle", bundle.toString()), Duration.ofSeconds(60));
        Path config = bundle.resolve("config.json");
        String json = Files.readString(config).replace("\"terminal\": true", "\"terminal\": false")
                .replaceFirst("\"args\": \\[\\s*\"sh\"\\s*\\]",
                        "\"args\": [\"/counter\", \"--buffer=line\", \"--step-ms=10\"]");
        if (!json.contains("\"/counter\"")) {
            throw new IOException("runc spec's config.json has no args [\"sh\"] to replace");
        }
        Files.writeString(config, json);
        return bundle;
    }

    /** One checkpoint and restore with {@code criu}: runc's walls and the frozen time go into {@code r}. */
    private static void once(Path work, Path bundle, String name, String criu, Runs r) throws Exception {
        String id = "cryo-bench-" + name + "-" + ProcessHandle.current().pid();
        Path out = work.resolve(name + ".out"), out2 = work.resolve(name + "-restored.out");
        Path img = Files.createDirectories(work.resolve(name + "-img"));
        List<Process> pipes = new ArrayList<>();
        try {
            // runc's stdout a pipe into cat, as a runtime's log pipe: a file of the host cannot be reopened inside
            pipes.add(new ProcessBuilder("sh", "-c", "'" + RUNC + "' run -d --bundle '" + bundle + "' " + id
                    + " </dev/null 2>&1 | cat > '" + out + "'").redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
            awaitLines(out, 3, Duration.ofSeconds(60), "the container did not count");
            long t0 = System.nanoTime();
            run(List.of(RUNC.toString(), "--criu", criu, "checkpoint", "--image-path", img.toString(), id),
                    Duration.ofSeconds(180));
            long t1 = System.nanoTime();
            List<String> before = lines(out);
            String last = before.isEmpty() ? "" : before.get(before.size() - 1);
            stats_entry stats = ImageDir.open(img).dumpStats();
            String id2 = id + "-r";
            Path status = work.resolve(name + ".status");
            long t2 = System.nanoTime();
            pipes.add(new ProcessBuilder("sh", "-c", "{ '" + RUNC + "' --criu '" + criu + "' restore -d --bundle '"
                    + bundle + "' --image-path '" + img + "' " + id2 + "; echo $? > '" + status + "'; } </dev/null 2>&1"
                    + " | cat > '" + out2 + "'").redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            while (!Files.exists(status) || Files.readString(status).isBlank()) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("runc restore did not return within 180 s");
                }
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000); // polled: the pipe stays open
            }
            long t3 = System.nanoTime();
            try {
                if (!Files.readString(status).strip().equals("0")) {
                    throw new IOException("runc restore failed: " + String.join(" | ", lines(out2)) + " "
                            + tail(img.resolve("restore.log")));
                }
                awaitLines(out2, 3, Duration.ofSeconds(60), "the restored container did not count");
                List<String> after = lines(out2);
                String expected = Integer.toString(Integer.parseInt(last) + 1);
                if (!after.get(0).equals(expected)) {
                    throw new IOException("the restored count starts at " + after.get(0) + ", not " + expected);
                }
                r.checkpoint.add((t1 - t0) / 1e6);
                r.restore.add((t3 - t2) / 1e6);
                r.frozen.add(stats.getDump().getFrozenTime() / 1e3);
            } finally {
                run(List.of(RUNC.toString(), "delete", "-f", id2), Duration.ofSeconds(60));
            }
        } finally {
            run(List.of(RUNC.toString(), "delete", "-f", id), Duration.ofSeconds(60));
            pipes.forEach(Process::destroyForcibly);
        }
    }

    /**
     * One {@code podman container checkpoint} (the container ends) and {@code restore} with {@code criu} first on PATH
     * as criu; walls, and the frozen time from {@code --print-stats}.
     */
    private static void oncePodman(Path work, String image, String name, String criu, Runs r) throws Exception {
        String id = "cryo-bench-" + name + "-" + ProcessHandle.current().pid();
        Path shim = Files.createDirectories(work.resolve("shim-" + name));
        Files.createSymbolicLink(shim.resolve("criu"), Path.of(criu));
        String path = shim + ":" + System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        try {
            podman(path, List.of("run", "-d", "--name", id, "--network=none", "--log-driver=k8s-file", "--ulimit",
                    "nofile=1024:1024", "--ulimit", "nproc=4096:4096", image, "/counter", "--buffer=line", "--step-ms=10"));
            awaitLogs(path, id, 3, Duration.ofSeconds(60), "the container did not count");
            long t0 = System.nanoTime();
            String stats = podman(path, List.of("container", "checkpoint", "--print-stats", id));
            long t1 = System.nanoTime();
            List<String> before = logs(path, id);
            long t2 = System.nanoTime();
            podman(path, List.of("container", "restore", id));
            long t3 = System.nanoTime();
            awaitLogs(path, id, before.size() + 3, Duration.ofSeconds(60), "the restored container did not count");
            List<String> after = logs(path, id);
            String expected = Integer.toString(Integer.parseInt(before.get(before.size() - 1)) + 1);
            if (!after.get(before.size()).equals(expected)) {
                throw new IOException("the restored count starts at " + after.get(before.size()) + ", not " + expected);
            }
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"frozen_time\":\\s*(\\d+)").matcher(stats);
            r.checkpoint.add((t1 - t0) / 1e6);
            r.restore.add((t3 - t2) / 1e6);
            if (m.find()) {
                r.frozen.add(Long.parseLong(m.group(1)) / 1e3);
            }
        } finally {
            run(List.of(PODMAN.toString(), "rm", "-f", id), Duration.ofSeconds(120));
        }
    }

    private static String podman(String path, List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(PODMAN.toString()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().put("PATH", path);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(180, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("podman " + args.get(0) + ": no end within 180 s");
        }
        if (p.exitValue() != 0) {
            throw new IOException("podman " + String.join(" ", args.subList(0, Math.min(2, args.size()))) + " failed (exit "
                    + p.exitValue() + "): " + out.strip());
        }
        return out;
    }

    private static List<String> logs(String path, String id) throws Exception {
        return podman(path, List.of("logs", id)).lines().filter(l -> !l.isBlank()).toList();
    }

    private static void awaitLogs(String path, String id, int n, Duration within, String what) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        while (logs(path, id).size() < n) {
            if (System.nanoTime() > deadline) {
                throw new IOException(what + " within " + within.toSeconds() + " s");
            }
            java.util.concurrent.locks.LockSupport.parkNanos(50_000_000);
        }
    }

    private static List<String> lines(Path file) throws IOException {
        if (!Files.exists(file)) {
            return List.of();
        }
        String text = Files.readString(file);
        int end = text.lastIndexOf('\n');
        return end < 0 ? List.of() : text.substring(0, end).lines().toList();
    }

    private static void awaitLines(Path file, int n, Duration within, String what) throws IOException {
        long deadline = System.nanoTime() + within.toNanos();
        while (lines(file).size() < n) {
            if (System.nanoTime() > deadline) {
                throw new IOException(what + " within " + within.toSeconds() + " s: " + lines(file));
            }
            java.util.concurrent.locks.LockSupport.parkNanos(10_000_000);
        }
    }

    private static String tail(Path log) {
        try {
            List<String> l = Files.readAllLines(log);
            return l.isEmpty() ? "" : l.get(l.size() - 1);
        } catch (IOException e) {
            return "";
        }
    }

    /** Runs a command; returns its output, or throws with it when it fails. */
    private static String run(List<String> cmd, Duration within) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(
                new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(within.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + ": no end within " + within.toSeconds() + " s");
        }
        if (p.exitValue() != 0 && !cmd.contains("delete")) {
            throw new IOException(String.join(" ", cmd.subList(0, Math.min(4, cmd.size()))) + " failed (exit "
                    + p.exitValue() + "): " + out.strip());
        }
        return out;
    }

    private static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        s.sort(Double::compare);
        int n = s.size();
        return n == 0 ? Double.NaN : n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    private static String table(Map<String, Runs> runs, int reps, long seconds) throws IOException {
        StringBuilder t = new StringBuilder();
        t.append("### Cryo bench: containers (runc ").append(version()).append("), ")
                .append(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm").format(java.time.ZonedDateTime.now(ZoneOffset.UTC)))
                .append(" UTC\n\n").append(reps).append(" repetitions per tool, taking turns (medians); ").append(seconds)
                .append(" s in all; load average ").append(Files.readString(Path.of("/proc/loadavg")).split(" ")[0])
                .append(" at the end. A counting container (the static counter as its init) checkpointed with `runc --criu TOOL "
                        + "checkpoint` (the container ends) and restored into a new container from the same bundle with "
                        + "`runc --criu TOOL restore -d`; walls are runc's, the tool's start included; frozen is stats-dump's "
                        + "frozen_time. Podman: `podman container checkpoint --print-stats` (the container ends) and `podman "
                        + "container restore`, the tool first on PATH as `criu`, Podman's default seccomp profile, "
                        + "`--network=none`; walls are podman's, frozen from its stats. Every restored count went on from "
                        + "the last line before the checkpoint unless said.\n\n")
                .append("| runtime, tool | checkpoint wall | frozen | restore wall | result |\n|---|---:|---:|---:|---|\n");
        for (Map.Entry<String, Runs> e : runs.entrySet()) {
            Runs r = e.getValue();
            t.append("| ").append(e.getKey().contains(",") ? e.getKey() : "runc, " + e.getKey()).append(" | ")
                    .append(String.format("%.2f s", median(r.checkpoint) / 1000)).append(" | ")
                    .append(String.format("%.1f ms", median(r.frozen))).append(" | ")
                    .append(String.format("%.2f s", median(r.restore) / 1000)).append(" | ")
                    .append(r.failures.isEmpty() ? "PASS (" + r.checkpoint.size() + " of " + reps + ")"
                            : "FAIL: " + String.join("; ", r.failures).replace('|', '/')).append(" |\n");
        }
        return t.toString();
    }

    private static String version() {
        try {
            return run(List.of(RUNC.toString(), "--version"), Duration.ofSeconds(30)).lines().findFirst().orElse("?")
                    .replace("runc version ", "");
        } catch (Exception e) {
            return "?";
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
