package dev.cryo.conformance.run;

import static org.awaitility.Awaitility.await;

import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.cases.PageWrite;
import dev.cryo.conformance.cases.Scenario;
import dev.cryo.conformance.check.Check;
import dev.cryo.conformance.check.CheckFailure;
import dev.cryo.conformance.engine.DumpRequest;
import dev.cryo.conformance.engine.Engine;
import dev.cryo.conformance.engine.RestoreRequest;
import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.sandbox.ExecResult;
import dev.cryo.conformance.sandbox.Sandbox;
import dev.cryo.conformance.sandbox.SandboxException;
import dev.cryo.conformance.sandbox.SandboxKind;
import dev.cryo.conformance.sandbox.SandboxSetup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * Runs one case: a fresh sandbox, the fixture, the scenario's cycles of (pre-)dumps and restores,
 * the checks at each moment, the fixture's verdict. The sandbox is stopped at the end whatever
 * happened, so nothing the case started outlives it; the whole case has a time bound.
 */
public final class CaseRunner {
    // sandboxes still up if the JVM is told to stop mid-case (Ctrl-C): their processes go with them
    private static final Set<Sandbox> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Sandbox::stop), "stop live sandboxes"));
    }

    private final Path repo;
    private final Path workRoot;
    private final Timeouts timeouts;

    public CaseRunner(Path repo, Path workRoot, Timeouts timeouts) {
        this.repo = repo.toAbsolutePath().normalize();
        this.workRoot = workRoot.toAbsolutePath().normalize();
        this.timeouts = timeouts;
    }

    private Path reachableRoot;
    /** The move of the case directories is said once a run (the suite's tests make many runners). */
    private static final java.util.concurrent.atomic.AtomicBoolean SAID_WORK_ROOT =
            new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Where a sandbox's case directories go. Real programs drop to users of their own (postgres, nginx's workers),
     * who must reach their case's directory; a repository cloned into a private directory (mktemp -d makes it 0700)
     * closes every path under it to them, so the native and docker sandboxes then work under /var/tmp instead (said
     * once). The VM sees the repository alone (its 9p share), so its cases stay under it.
     */
    private synchronized Path workRootFor(SandboxKind kind) {
        if (kind == SandboxKind.VAGRANT || othersCanReach(workRoot)) {
            return workRoot;
        }
        if (reachableRoot == null) {
            reachableRoot = reachableRootOf(workRoot);
            if (!SAID_WORK_ROOT.getAndSet(true)) {
                System.out.println("conformance: case directories under " + reachableRoot + ": other users (a "
                        + "program's own, such as postgres) cannot reach " + workRoot);
            }
        }
        return reachableRoot;
    }

    /** Where the case directories of {@code workRoot} go when other users cannot reach it (under /var/tmp). */
    public static Path reachableRootOf(Path workRoot) {
        return Path.of("/var/tmp", "cryo-conformance-"
                + Integer.toHexString(workRoot.toAbsolutePath().normalize().toString().hashCode()));
    }

    /** Whether every existing directory from / down to {@code dir} lets others through (o+x). */
    public static boolean othersCanReach(Path dir) {
        for (Path p = dir; p != null; p = p.getParent()) {
            try {
                if (Files.exists(p) && !Files.getPosixFilePermissions(p).contains(
                        java.nio.file.attribute.PosixFilePermission.OTHERS_EXECUTE)) {
                    return false;
                }
            } catch (IOException e) {
                return false;
            }
        }
        return true;
    }

    public CaseResult run(Case testCase, SandboxKind kind, Engine engine) {
        Optional<String> unavailable = kind.unavailableReason();
        if (unavailable.isPresent()) {
            return CaseResult.skip(testCase.name(), kind.label(), engine.name(), unavailable.get());
        }
        long start = System.nanoTime();
        Path workDir = workRootFor(kind).resolve(kind.label()).resolve(testCase.name());
        Sandbox sandbox = kind.create(new SandboxSetup(repo, workDir, engine.mounts()));
        Timeouts timeouts = this.timeouts.times(kind.slowdown());
        Run run = new Run(testCase, sandbox, engine, repo, workDir, timeouts);
        ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "case " + testCase.name());
            t.setDaemon(true);
            return t;
        });
        List<CheckFailure> failures = new ArrayList<>();
        Duration bound = timeouts.caseBound(testCase.scenario().cycles());
        LIVE.add(sandbox);
        try {
            clean(workDir);
            Future<List<CheckFailure>> body = worker.submit(() -> withAfterCase(run, body(run)));
            failures.addAll(body.get(bound.toMillis(), TimeUnit.MILLISECONDS));
        } catch (TimeoutException e) {
            failures.add(new CheckFailure("harness", "the case did not finish within " + bound.toSeconds()
                    + " s; it was at: " + run.step()));
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            failures.add(new CheckFailure("harness", "at " + run.step() + ": " + cause));
        } catch (IOException e) {
            failures.add(new CheckFailure("harness", "cannot prepare " + workDir + ": " + e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failures.add(new CheckFailure("harness", "interrupted at " + run.step()));
        } finally {
            run.stopApp();
            sandbox.stop();
            LIVE.remove(sandbox);
            worker.shutdownNow();
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        // incremental dumps: which tracker they used, shown with the result; a kernel known to offer one must get it
        Set<String> trackers = TrackersArmed.in(workDir);
        TrackersArmed.unexpected(trackers, kind.expectedTracker()).ifPresent(why ->
                failures.add(new CheckFailure("tracker", why)));
        if (failures.isEmpty()) {
            dropPassedOutsideRepository(workDir);
            return KnownGaps.classify(new CaseResult(testCase.name(), kind.label(), engine.name(), Outcome.PASS,
                    trackers.isEmpty() ? "" : "tracker " + String.join(", ", trackers),
                    List.of(), took), testCase.needs(), engine.knownGaps(), run.refusal());
        }
        String message = String.join("; ", failures.stream().map(f -> f.check() + ": " + f.getMessage()).toList());
        return KnownGaps.classify(new CaseResult(testCase.name(), kind.label(), engine.name(), Outcome.FAIL, message,
                failures.stream().map(CheckFailure::check).distinct().toList(), took), testCase.needs(),
                engine.knownGaps(), run.refusal());
    }

    /** The case's steps; returns the failures of the first phase that had any (or none). */
    private List<CheckFailure> body(Run run) throws Exception {
        Scenario scenario = run.testCase().scenario();
        List<Check> checks = run.testCase().checks();
        try {
            run.step("starting the " + run.sandbox().kind() + " sandbox");
            run.sandbox().start();
            if (run.testCase().program().isPresent()) {
                run.step("starting " + run.testCase().fixture().binary() + ", filling it, starting its load");
                run.launchApp();
            } else {
                run.step("starting fixture " + run.testCase().fixture().binary());
                run.launchFixture();
            }
            for (int cycle = 1; cycle <= scenario.cycles(); cycle++) {
                run.cycle(cycle);
                Path cycleDir = run.workDir().resolve("cycle-" + cycle);
                run.step("cycle " + cycle + ": waiting " + scenario.dumpAfter().toMillis() + " ms before dumping");
                pause(scenario.dumpAfter());
                Optional<String> previous = Optional.empty();
                for (int p = 1; p <= scenario.preDumps(); p++) {
                    Path dir = cycleDir.resolve("pre-" + p);
                    runEngine(run, "pre-dump " + p, run.engine().preDump(new DumpRequest(run.pid(), dir,
                            "pre-dump.log", false, true, previous, scenario.dumpOptions())), dir.resolve("pre-dump.log"));
                    phase(checks, c -> c.afterDump(run, dir));
                    PageWrite write = scenario.writeAfterPreDump(p - 1);
                    if (write != null && run.testCase().fixture().takesPageWrites()) {
                        run.step("cycle " + cycle + ": page write " + write);
                        run.pageWrite(write);
                    }
                    previous = Optional.of("../pre-" + p);
                }
                run.step("cycle " + cycle + ": reading /proc before the dump");
                ProcSnapshot before = run.probe();
                if (before.isEmpty()) {
                    throw new CheckFailed(List.of(new CheckFailure("harness", "fixture pid " + run.pid()
                            + " is not running before dump " + cycle + "; its stderr: " + run.fixtureStderrTail())));
                }
                Path dumpDir = cycleDir.resolve("dump");
                runEngine(run, "dump", run.engine().dump(new DumpRequest(run.pid(), dumpDir, "dump.log",
                        scenario.leaveRunning(), scenario.preDumps() > 0, previous, expand(run, scenario.dumpOptions()))),
                        dumpDir.resolve("dump.log"));
                phase(checks, c -> c.afterDump(run, dumpDir));
                if (scenario.leaveRunning() && scenario.restoreAfterLeaveRunning()) {
                    run.step("cycle " + cycle + ": killing the original after dump -R");
                    run.killAndAwaitGone(List.copyOf(before.pids()));
                }
                if (scenario.restores()) {
                    List<String> options = expand(run, scenario.restoreOptions());
                    List<String> argv = new ArrayList<>(Scenario.launcher(options)); // the restorer's fds, if any
                    argv.addAll(run.engine().restore(new RestoreRequest(dumpDir, "restore.log",
                            Scenario.withoutLauncher(options))));
                    runEngine(run, "restore", argv, dumpDir.resolve("restore.log"));
                }
                run.step("cycle " + cycle + ": checking the " + (scenario.restores() ? "restored" : "running") + " tree");
                ProcSnapshot after = run.probe();
                phase(checks, c -> c.afterCycle(run, before, after));
            }
            if (run.testCase().program().isEmpty()) {
                run.step("asking the fixture for its verdict");
                run.askVerdict();
            }
            run.step("final checks");
            phase(checks, c -> c.atEnd(run));
            return List.of();
        } catch (CheckFailed failed) {
            return failed.failures;
        } catch (SandboxException e) {
            return List.of(new CheckFailure("harness", e.getMessage()));
        }
    }

    /** Every check's afterCase hook, whether the case passed or failed, while the sandbox is still up. */
    private static List<CheckFailure> withAfterCase(Run run, List<CheckFailure> failures) {
        List<CheckFailure> all = new ArrayList<>(failures);
        for (Check check : run.testCase().checks()) {
            try {
                check.afterCase(run);
            } catch (CheckFailure f) {
                all.add(f);
            }
        }
        return all;
    }

    private static void runEngine(Run run, String what, List<String> argv, Path log) throws Exception {
        run.step("cycle " + run.cycle() + ": " + what);
        boolean first = run.engineCommandStarting() == 1;
        Files.createDirectories(log.getParent());
        ExecResult result = run.sandbox().exec(argv, run.engine().environment(), run.timeouts().engine());
        if (result.timedOut()) {
            throw new CheckFailed(List.of(new CheckFailure("engine", what + " (cycle " + run.cycle()
                    + ") did not finish within " + run.timeouts().engine().toSeconds() + " s")));
        }
        if (result.exitCode() != 0) {
            String error = engineError(result, log);
            if (first) {
                run.refused(error);
            }
            throw new CheckFailed(List.of(new CheckFailure("engine", what + " (cycle " + run.cycle()
                    + ") failed with exit " + result.exitCode() + ": " + error)));
        }
    }

    /**
     * A scenario's options with this run's values: {@code {work}} the fixture's directory, {@code {build}} the
     * fixtures' build directory, {@code {file:NAME}} what the fixture wrote to NAME in its directory (an inode it
     * holds, say), read when the engine is about to run.
     */
    static List<String> expand(Run run, List<String> options) throws IOException {
        List<String> out = new ArrayList<>();
        for (String o : options) {
            String e = o.replace("{work}", run.workDir().toString()).replace("{build}", run.build().toString());
            for (int at = e.indexOf("{file:"); at >= 0; at = e.indexOf("{file:")) {
                int end = e.indexOf('}', at);
                String name = e.substring(at + 6, end);
                e = e.substring(0, at) + Files.readString(run.workDir().resolve(name)).strip() + e.substring(end + 1);
            }
            out.add(e);
        }
        return out;
    }

    /** The engine's own words: the last error line of its log, else of its output. */
    static String engineError(ExecResult result, Path log) {
        try {
            if (Files.exists(log)) {
                List<String> lines = Files.readAllLines(log);
                for (int i = lines.size() - 1; i >= 0; i--) {
                    if (lines.get(i).contains("Error")) {
                        return lines.get(i).strip();
                    }
                }
            }
        } catch (IOException e) {
            // fall back to the output
        }
        String last = result.lastLine();
        return last.isEmpty() ? "(no output)" : last;
    }

    private interface Hook {
        void call(Check check) throws CheckFailure;
    }

    /** Runs one hook of every check; all of them run, and every failure is reported. */
    private static void phase(List<Check> checks, Hook hook) throws CheckFailed {
        List<CheckFailure> failures = new ArrayList<>();
        for (Check check : checks) {
            try {
                hook.call(check);
            } catch (CheckFailure f) {
                failures.add(f);
            }
        }
        if (!failures.isEmpty()) {
            throw new CheckFailed(failures);
        }
    }

    /** The chosen moment of a dump: a declared wait, not a synchronisation. */
    private static void pause(Duration d) {
        if (!d.isZero()) {
            await().pollDelay(d).atMost(d.plusSeconds(5)).until(() -> true);
        }
    }

    /**
     * A passed case's directory under /var/tmp (a private clone's, see {@link #workRootFor}) goes: {@code make clean}
     * never reaches there, and a whole suite leaves gigabytes of images. Under the repository's target it stays for a
     * look until {@code make clean}; a failed case's stays wherever it is, named in the report.
     */
    private void dropPassedOutsideRepository(Path workDir) {
        if (workDir.startsWith(workRoot)) {
            return;
        }
        try {
            clean(workDir);
            Files.delete(workDir);
            Path sandboxDir = workDir.getParent(); // the sandbox's, then the run's own directory, once empty
            for (Path dir = sandboxDir; dir != null && !dir.equals(Path.of("/var/tmp")); dir = dir.getParent()) {
                try (Stream<Path> left = Files.list(dir)) {
                    if (left.findAny().isPresent()) {
                        break;
                    }
                }
                Files.delete(dir);
            }
        } catch (IOException e) {
            System.out.println("conformance: could not remove the passed case's " + workDir + ": " + e.getMessage());
        }
    }

    private static void clean(Path dir) throws IOException {
        if (Files.exists(dir)) {
            try (Stream<Path> walk = Files.walk(dir)) {
                for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        Files.createDirectories(dir);
    }

    private static final class CheckFailed extends Exception {
        private final List<CheckFailure> failures;

        CheckFailed(List<CheckFailure> failures) {
            super(failures.get(0).getMessage());
            this.failures = failures;
        }
    }
}
