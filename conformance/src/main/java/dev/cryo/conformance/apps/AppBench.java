package dev.cryo.conformance.apps;

import dev.cryo.conformance.cases.App;
import dev.cryo.conformance.cases.AppCases;
import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.engine.CriuEngine;
import dev.cryo.conformance.engine.CryoEngine;
import dev.cryo.conformance.engine.DumpRequest;
import dev.cryo.conformance.engine.Engine;
import dev.cryo.conformance.engine.RestoreRequest;
import dev.cryo.conformance.proc.ProcProbe;
import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.sandbox.ExecResult;
import dev.cryo.conformance.sandbox.Sandbox;
import dev.cryo.conformance.sandbox.SandboxException;
import dev.cryo.conformance.sandbox.SandboxKind;
import dev.cryo.conformance.sandbox.SandboxSetup;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.stats_entry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * {@code make bench}'s part for real programs (the conformance suite's apps group): each program, started,
 * filled and put under its client's load as in its case, is dumped and restored by each engine in a fresh native
 * sandbox (own pid and net namespaces: loopback only, pids free for the restore). Per program and engine: its
 * processes and threads, image size, frozen time, dump and restore wall time, and whether the program answered
 * right after the restore, or the engine's refusal. Then the JVM start-up figure: how long the warmed Java
 * server takes to its first answer restored from images, against a cold {@code java} start of the same server
 * to its first answer, timed the same way in the same run.
 * <pre>
 * AppBench --repo=PATH [--criu=PATH] [--apps=REGEX] [--out=DIR]
 * </pre>
 * Exit status: 0 when it ran (rows that an engine refused say so; they are the point of the table), 2 when the
 * harness could not run.
 */
public final class AppBench {
    private static final Duration STEP = Duration.ofSeconds(180);
    private static final Duration MID_WORK = Duration.ofSeconds(1);
    private static final int JVM_PORT = 8002;

    /** One program dumped and restored by one engine. */
    record Row(String engine, String app, int processes, int threads, long imageBytes, double frozenMs, double dumpS,
               double restoreS, String result) {
    }

    /** The start-up figure of one engine: first answer restored, against cold (ms). */
    record StartUp(String engine, String jvm, double restoredMs, double coldMs, String result) {
    }

    private final Path repo;
    private final Path work;

    AppBench(Path repo, Path work) {
        this.repo = repo;
        this.work = work;
    }

    public static void main(String[] args) throws IOException {
        Path repo = Path.of(option(args, "repo").orElse(".")).toAbsolutePath().normalize();
        Optional<String> criu = option(args, "criu").filter(s -> !s.isBlank());
        String only = option(args, "apps").orElse(".*");
        Path out = Path.of(option(args, "out").orElse(repo.resolve("bench/target/bench-results").toString()));
        List<Engine> engines = new ArrayList<>(List.of(new CryoEngine(repo)));
        criu.ifPresent(c -> engines.add(CriuEngine.at(Path.of(c))));
        Optional<String> unavailable = SandboxKind.NATIVE.unavailableReason();
        if (unavailable.isPresent()) {
            System.err.println("bench apps: " + unavailable.get());
            System.exit(2);
        }
        List<Case> apps = AppCases.all().stream().filter(c -> c.name().matches("apps-(" + only + ")")).toList();
        // as the suite's case directories (CaseRunner): postgres runs as its own user, who must reach its directory,
        // and a repository cloned into a private directory (mktemp -d) closes every path under it
        Path work = repo.resolve("bench/target/bench-apps");
        if (!dev.cryo.conformance.run.CaseRunner.othersCanReach(repo)) {
            work = Path.of("/var/tmp", "cryo-bench-apps-" + Integer.toHexString(repo.toString().hashCode()));
            System.err.println("bench apps: work directories under " + work + ": other users (a program's own, such as "
                    + "postgres) cannot reach " + repo);
        }
        AppBench bench = new AppBench(repo, work);
        Instant started = Instant.now();
        double load = loadAverage();
        List<Row> rows = new ArrayList<>();
        List<StartUp> startUps = new ArrayList<>();
        for (Case c : apps) {
            for (Engine e : engines) {
                Row r = bench.measure(c, e);
                System.err.printf(Locale.ROOT, "[bench apps] %s %s: %s%n", e.name(), c.name(), describe(r));
                rows.add(r);
            }
        }
        for (Case c : apps) {
            if (c.program().orElseThrow().dir().equals("jvm")) {
                for (Engine e : engines) {
                    StartUp s = bench.startUp(c, e);
                    System.err.printf(Locale.ROOT, "[bench apps] start-up %s %s: restored %.0f ms, cold %.0f ms %s%n",
                            e.name(), c.name(), s.restoredMs(), s.coldMs(), s.result());
                    startUps.add(s);
                }
            }
        }
        String table = markdown(rows, startUps, started, load, loadAverage(), engines, criu.isEmpty());
        Files.createDirectories(out);
        Files.writeString(out.resolve("apps-latest.md"), table, StandardCharsets.UTF_8);
        System.out.println(table);
        System.out.println("Results: " + out.resolve("apps-latest.md"));
        boolean allPassed = rows.stream().allMatch(r -> r.result().equals("PASS") || r.result().startsWith("refused"))
                && startUps.stream().allMatch(s -> s.result().equals("PASS"));
        if (!work.startsWith(repo) && allPassed) {
            // a private clone's work directories (images of every program, gigabytes): make clean never reaches
            // /var/tmp; a run with a failed row leaves them for a look
            try {
                Files.delete(fresh(work));
            } catch (IOException e) {
                System.err.println("bench apps: could not remove " + work + ": " + e.getMessage());
            }
        }
    }

    /** Start, fill, load, wait, count tasks, dump, restore, check: one program with one engine. */
    Row measure(Case c, Engine engine) throws IOException {
        App app = c.program().orElseThrow();
        Path dir = fresh(work.resolve(engine.name() + "-" + c.name()));
        Sandbox sandbox = SandboxKind.NATIVE.create(new SandboxSetup(repo, dir, engine.mounts()));
        int processes = 0;
        int threads = 0;
        try {
            sandbox.start();
            Map<String, String> env = env(app, dir, sandbox);
            require(app, "start", script(sandbox, app, "start", env));
            int pid = Integer.parseInt(Files.readString(dir.resolve("app.pid")).strip());
            require(app, "fill", script(sandbox, app, "fill", env));
            if (Files.exists(app.scripts(repo).resolve("load"))) {
                require(app, "load", sandbox.exec(List.of("sh", "-c", "setsid sh \"$APP/load\" </dev/null >\"$WORK/load.out\" "
                        + "2>&1 & echo $! >\"$WORK/load.pid\""), env, STEP));
            }
            pause(MID_WORK);
            ProcSnapshot before = ProcProbe.snapshot(sandbox, pid, STEP);
            processes = before.pids().size();
            threads = before.tasks().size();
            Path images = dir.resolve("images");
            Files.createDirectories(images);
            List<String> options = c.scenario().dumpOptions();
            ExecResult dump = sandbox.exec(engine.dump(new DumpRequest(pid, images, "dump.log", false, false,
                    Optional.empty(), options)), engine.environment(), STEP);
            if (!dump.ok()) {
                return new Row(engine.name(), c.name(), processes, threads, -1, Double.NaN, seconds(dump), Double.NaN,
                        "refused: " + engineError(dump, images.resolve("dump.log")));
            }
            awaitGone(sandbox, before.pids());
            ExecResult restore = sandbox.exec(engine.restore(new RestoreRequest(images, "restore.log",
                    c.scenario().restoreOptions())), engine.environment(), STEP);
            Stats stats = stats(images);
            if (!restore.ok()) {
                return new Row(engine.name(), c.name(), processes, threads, stats.imageBytes, stats.frozenMs, seconds(dump),
                        seconds(restore), "restore failed: " + engineError(restore, images.resolve("restore.log")));
            }
            ExecResult check = script(sandbox, app, "check", env);
            return new Row(engine.name(), c.name(), processes, threads, stats.imageBytes, stats.frozenMs, seconds(dump),
                    seconds(restore), check.ok() ? "PASS" : "restored, but: " + check.lastLine());
        } catch (SandboxException | IOException | RuntimeException e) {
            return new Row(engine.name(), c.name(), processes, threads, -1, Double.NaN, Double.NaN, Double.NaN,
                    "harness: " + e.getMessage());
        } finally {
            stopApp(sandbox, app, dir);
            sandbox.stop();
        }
    }

    /**
     * The warmed server (filled, 200 requests answered, no connection open) dumped; then, timed the same way,
     * its restore to the first answer, and a cold start of the same server to its first answer.
     */
    StartUp startUp(Case c, Engine engine) throws IOException {
        App app = c.program().orElseThrow();
        Path dir = fresh(work.resolve("startup-" + engine.name() + "-" + c.name()));
        Sandbox sandbox = SandboxKind.NATIVE.create(new SandboxSetup(repo, dir, engine.mounts()));
        try {
            sandbox.start();
            Map<String, String> env = env(app, dir, sandbox);
            require(app, "start", script(sandbox, app, "start", env));
            int pid = Integer.parseInt(Files.readString(dir.resolve("app.pid")).strip());
            require(app, "fill", script(sandbox, app, "fill", env));
            require(app, "warm-up", sandbox.exec(List.of("sh", "-c", "i=0; while [ $i -lt 200 ]; do curl -sf -o /dev/null "
                    + "http://127.0.0.1:" + JVM_PORT + "/chunk/$((i % 256)) || exit 1; i=$((i + 1)); done"), env, STEP));
            Path images = dir.resolve("images");
            Files.createDirectories(images);
            ExecResult dump = sandbox.exec(engine.dump(new DumpRequest(pid, images, "dump.log", false, false,
                    Optional.empty(), List.of())), engine.environment(), STEP);
            if (!dump.ok()) {
                // a refusing engine leaves the server running: it must not answer for the cold start
                kill(sandbox, pid, env);
                return new StartUp(engine.name(), c.name(), Double.NaN, cold(sandbox, app, env, dir),
                        "refused: " + engineError(dump, images.resolve("dump.log")));
            }
            awaitGone(sandbox, List.of(pid));
            List<String> restore = new ArrayList<>(List.of("/usr/bin/python3", app.scripts(repo).resolve("first-answer.py").toString(),
                    Integer.toString(JVM_PORT)));
            restore.addAll(engine.restore(new RestoreRequest(images, "restore.log", List.of())));
            ExecResult restored = sandbox.exec(restore, engine.environment(), STEP);
            double restoredMs = restored.ok() ? Double.parseDouble(restored.stdout().strip()) : Double.NaN;
            String result = restored.ok() ? "PASS" : "restore failed: " + engineError(restored, images.resolve("restore.log"));
            if (restored.ok()) {
                ExecResult digest = sandbox.exec(List.of("sh", "-c", "curl -sf http://127.0.0.1:" + JVM_PORT
                        + "/digest | cmp -s - \"$WORK/digest.before\""), env, STEP);
                result = digest.ok() ? "PASS" : "restored, but the data's digest differs";
            }
            kill(sandbox, pid, env);
            return new StartUp(engine.name(), c.name(), restoredMs, cold(sandbox, app, env, dir), result);
        } catch (SandboxException | IOException | RuntimeException e) {
            return new StartUp(engine.name(), c.name(), Double.NaN, Double.NaN, "harness: " + e.getMessage());
        } finally {
            stopApp(sandbox, app, dir);
            sandbox.stop();
        }
    }

    /** The app's own clean shutdown ({@code stop}, optional; see {@code Run.stopApp}), before the sandbox's kill. */
    private void stopApp(Sandbox sandbox, App app, Path dir) {
        if (!Files.exists(app.scripts(repo).resolve("stop"))) {
            return;
        }
        try {
            script(sandbox, app, "stop", env(app, dir, sandbox));
        } catch (SandboxException | RuntimeException e) {
            // the sandbox's stop kills what is left
        }
    }

    private static void kill(Sandbox sandbox, int pid, Map<String, String> env) throws SandboxException {
        sandbox.exec(List.of("sh", "-c", "kill -9 " + pid + " 2>/dev/null; while [ -e /proc/" + pid + "/stat ]; do sleep 0.01; done"),
                env, STEP);
    }

    /** A cold start of the same server, in the same sandbox, to its first answer. */
    private double cold(Sandbox sandbox, App app, Map<String, String> env, Path dir) throws SandboxException {
        ExecResult r = sandbox.exec(List.of("/usr/bin/python3", app.scripts(repo).resolve("first-answer.py").toString(),
                Integer.toString(JVM_PORT), env.get("JAVA"), "-Xmx1g", "-cp", repo.resolve("conformance/target/classes").toString(),
                HeapServer.class.getName(), Integer.toString(JVM_PORT), "256", "4"), env, STEP);
        return r.ok() ? Double.parseDouble(r.stdout().strip()) : Double.NaN;
    }

    private ExecResult script(Sandbox sandbox, App app, String name, Map<String, String> env) throws SandboxException {
        return sandbox.exec(List.of("sh", app.scripts(repo).resolve(name).toString()), env, STEP);
    }

    private Map<String, String> env(App app, Path dir, Sandbox sandbox) {
        Map<String, String> env = new java.util.HashMap<>(app.env());
        env.putAll(Map.of("WORK", dir.toString(), "LOCAL", sandbox.localDir().toString(), "APP", app.scripts(repo).toString(), "REPO", repo.toString()));
        return env;
    }

    private static void require(App app, String step, ExecResult r) throws SandboxException {
        if (!r.ok()) {
            throw new SandboxException(app + " " + step + ": " + (r.timedOut() ? "timed out" : r.lastLine()));
        }
    }

    private static void awaitGone(Sandbox sandbox, java.util.Collection<Integer> pids) throws SandboxException {
        List<String> argv = new ArrayList<>(List.of("sh", "-c",
                "for p; do while [ -e /proc/$p/stat ]; do sleep 0.01; done; done", "gone"));
        pids.forEach(p -> argv.add(Integer.toString(p)));
        if (!sandbox.exec(argv, Duration.ofSeconds(30)).ok()) {
            throw new SandboxException("pids " + pids + " still there 30 s after the dump");
        }
    }

    private record Stats(long imageBytes, double frozenMs) {
    }

    private static Stats stats(Path images) {
        long bytes = 0;
        try (Stream<Path> files = Files.list(images)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                if (Files.isRegularFile(p) && !p.getFileName().toString().endsWith(".log")) {
                    bytes += Files.size(p);
                }
            }
        } catch (IOException e) {
            bytes = -1;
        }
        double frozen = Double.NaN;
        try {
            stats_entry s = ImageDir.open(images).dumpStats();
            if (s.hasDump()) {
                frozen = Integer.toUnsignedLong(s.getDump().getFrozenTime()) / 1000.0;
            }
        } catch (IOException | RuntimeException e) {
            // no stats: the column says so
        }
        return new Stats(bytes, frozen);
    }

    /** The engine's own words: its first line naming an error that is not CRIU's harmless rlimit note. */
    private static String engineError(ExecResult r, Path log) {
        List<String> lines = new ArrayList<>();
        try {
            if (Files.exists(log)) {
                lines.addAll(Files.readAllLines(log));
            }
        } catch (IOException e) {
            // the output then
        }
        lines.addAll(Arrays.asList(r.stderr().split("\n")));
        lines.addAll(Arrays.asList(r.stdout().split("\n")));
        return lines.stream().filter(l -> l.contains("Error") && !l.contains("RLIMIT_NOFILE") && !l.contains("tun:"))
                .map(l -> l.strip().replaceFirst("^\\(\\d+\\.\\d+\\)\\s*", "")).findFirst().orElse(r.lastLine());
    }

    private static double seconds(ExecResult r) {
        return r.took().toNanos() / 1e9;
    }

    private static void pause(Duration d) {
        org.awaitility.Awaitility.await().pollDelay(d).atMost(d.plusSeconds(5)).until(() -> true);
    }

    private static Path fresh(Path dir) throws IOException {
        if (Files.exists(dir)) {
            try (Stream<Path> walk = Files.walk(dir)) {
                for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        return Files.createDirectories(dir);
    }

    private static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }

    private static String describe(Row r) {
        return String.format(Locale.ROOT, "%d processes, %d threads, image %s, frozen %s, dump %s, restore %s: %s",
                r.processes(), r.threads(), mib(r.imageBytes()), ms(r.frozenMs()), s(r.dumpS()), s(r.restoreS()), r.result());
    }

    static String markdown(List<Row> rows, List<StartUp> startUps, Instant started, double loadStart, double loadEnd,
                           List<Engine> engines, boolean criuAbsent) {
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "#### Real programs, %s%n%n", started.toString().substring(0, 16).replace('T', ' ')));
        md.append(String.format(Locale.ROOT, "Engines: %s%s. Each program as in its conformance case (apps group): started, "
                        + "filled through its client, dumped after 1 s of its client's load, restored in a fresh native "
                        + "sandbox, then checked through its client. Load average %.1f at the start, %.1f at the end.%n%n",
                String.join(", ", engines.stream().map(e -> e.name() + " (" + e.binary() + ")").toList()),
                criuAbsent ? "; criu not run (no BENCH_CRIU)" : "", loadStart, loadEnd));
        md.append("| engine | program | processes | threads | image | frozen | dump | restore | result |\n");
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---|\n");
        for (Row r : rows) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %s | %s | %s | %s | %s |%n", r.engine(), r.app(),
                    r.processes(), r.threads(), mib(r.imageBytes()), ms(r.frozenMs()), s(r.dumpS()), s(r.restoreS()),
                    r.result().replace("|", "\\|")));
        }
        if (!startUps.isEmpty()) {
            md.append("\nJVM start-up: the warmed server (256 MiB of data, 200 requests answered) to its first answer, "
                    + "restored from its images (the engine's `restore -d` included) against a cold `java` start of the "
                    + "same server, timed the same way (`conformance/apps/jvm/first-answer.py`), in this run.\n\n");
            md.append("| engine | JVM | restored to first answer | cold start to first answer | result |\n|---|---|---:|---:|---|\n");
            for (StartUp s : startUps) {
                md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s |%n", s.engine(), s.jvm(), ms(s.restoredMs()),
                        ms(s.coldMs()), s.result().replace("|", "\\|")));
            }
        }
        return md.toString();
    }

    private static String mib(long bytes) {
        return bytes < 0 ? "-" : String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }

    private static String ms(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.0f ms", v);
    }

    private static String s(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.2f s", v);
    }

    private static Optional<String> option(String[] args, String name) {
        return Arrays.stream(args).filter(a -> a.startsWith("--" + name + "=")).map(a -> a.substring(name.length() + 3))
                .reduce((a, b) -> b);
    }
}
