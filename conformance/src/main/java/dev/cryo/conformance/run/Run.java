package dev.cryo.conformance.run;

import static org.awaitility.Awaitility.await;

import dev.cryo.conformance.cases.App;
import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.cases.PageWrite;
import dev.cryo.conformance.cases.VmaChange;
import dev.cryo.conformance.engine.Engine;
import dev.cryo.conformance.proc.ProcProbe;
import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.sandbox.ExecResult;
import dev.cryo.conformance.sandbox.Sandbox;
import dev.cryo.conformance.sandbox.SandboxException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.awaitility.core.ConditionTimeoutException;

/**
 * One case in progress: its sandbox, engine, work directory and the fixture's pid, plus what checks
 * remember between hooks. Also the harness's side of the fixture protocol (see fixtures-c/lib/fx.h).
 */
public final class Run {
    private final Case testCase;
    private final Sandbox sandbox;
    private final Engine engine;
    private final Path workDir;
    private final Timeouts timeouts;
    private final Path repo;
    private volatile String step = "starting";
    private int pid;
    private int cycle;
    private long commandSeq;
    private String verdict;
    private int engineCommands;
    private Refusal refusal;

    Run(Case testCase, Sandbox sandbox, Engine engine, Path repo, Path workDir, Timeouts timeouts) {
        this.testCase = testCase;
        this.sandbox = sandbox;
        this.engine = engine;
        this.repo = repo;
        this.workDir = workDir;
        this.timeouts = timeouts;
    }

    public Case testCase() {
        return testCase;
    }

    public Sandbox sandbox() {
        return sandbox;
    }

    public Engine engine() {
        return engine;
    }

    public Path workDir() {
        return workDir;
    }

    /** The fixtures' build directory (valid inside the sandbox too). */
    public Path build() {
        return repo.resolve("fixtures-c/build");
    }

    public Timeouts timeouts() {
        return timeouts;
    }

    public int pid() {
        return pid;
    }

    public int cycle() {
        return cycle;
    }

    void cycle(int cycle) {
        this.cycle = cycle;
    }

    public String step() {
        return step;
    }

    void step(String step) {
        this.step = step;
    }

    /** Counts an engine command about to run; returns how many ran in this case, this one included. */
    int engineCommandStarting() {
        return ++engineCommands;
    }

    /** Records the engine's refusal of the case's first command, and whether the fixture carried on untouched. */
    void refused(String text) {
        boolean untouched;
        try {
            ProcSnapshot now = probe();
            // no task left in a tracing stop; a task the fixture stopped itself (T) stays so (the resumes check compares)
            untouched = now.pids().contains(pid) && now.tasks().stream().noneMatch(t -> t.state().equals("t"));
        } catch (SandboxException e) {
            untouched = false;
        }
        refusal = new Refusal(text, untouched);
    }

    /** The engine's refusal of the case's first command, if it refused it. */
    public Optional<Refusal> refusal() {
        return Optional.ofNullable(refusal);
    }

    /** The fixture's verdict line ({@code PASS} or {@code FAIL: why}), if it gave one. */
    public Optional<String> verdict() {
        return Optional.ofNullable(verdict);
    }

    /** Where the fixture's stdout goes. */
    public Path out() {
        return workDir.resolve("out");
    }

    /** The complete lines of the fixture's stdout so far (a line still being written is left out). */
    public List<String> outputLines() {
        try {
            String text = Files.readString(out(), StandardCharsets.UTF_8);
            int end = text.lastIndexOf('\n');
            return end < 0 ? List.of() : List.of(text.substring(0, end).split("\n", -1));
        } catch (IOException e) {
            return List.of();
        }
    }

    /** The last lines the fixture wrote to stderr, for failure messages. */
    public String fixtureStderrTail() {
        try {
            List<String> lines = Files.readAllLines(workDir.resolve("err"));
            return String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size()));
        } catch (IOException e) {
            return "";
        }
    }

    public ProcSnapshot probe() throws SandboxException {
        return ProcProbe.snapshot(sandbox, pid, timeouts.probe());
    }

    /** Starts the fixture in the sandbox, detached in its own session, and waits for its ready marker. */
    void launchFixture() throws SandboxException, IOException {
        Path ready = workDir.resolve("ready");
        Files.deleteIfExists(ready);
        List<String> argv = new ArrayList<>(List.of("sh", "-c",
                "cd \"$1\" || exit 1; shift; setsid \"$@\" </dev/null >out 2>err &", "launch", workDir.toString(),
                "env", "CRYO_FX_READY=" + ready, "CRYO_FX_RESULT=" + workDir.resolve("result"),
                "CRYO_FX_CMD=" + workDir.resolve("cmd"), "CRYO_FX_ACK=" + workDir.resolve("ack"),
                repo.resolve("fixtures-c/build").resolve(testCase.fixture().binary()).toString()));
        String build = repo.resolve("fixtures-c/build").toString();
        testCase.fixture().args().forEach(a -> argv.add(a.replace("{build}", build)));
        ExecResult launched = sandbox.exec(argv, timeouts.probe());
        if (!launched.ok()) {
            throw new SandboxException("cannot start fixture " + testCase.fixture() + ": " + launched.lastLine());
        }
        try {
            await("ready marker of " + testCase.fixture().binary()).atMost(timeouts.ready())
                    .pollInterval(Duration.ofMillis(10)).until(() -> Files.exists(ready));
            pid = Integer.parseInt(Files.readString(ready).strip());
        } catch (ConditionTimeoutException e) {
            throw new SandboxException("fixture " + testCase.fixture().binary() + " was not ready within "
                    + timeouts.ready().toSeconds() + " s; its stderr: " + fixtureStderrTail());
        }
    }

    /** How long one of an app's scripts may take (a JVM filling its heap on a loaded machine included). */
    static final Duration APP_SCRIPT = Duration.ofSeconds(180);

    /**
     * Starts the case's real program with its {@code start} script, reads the pid it left in {@code app.pid},
     * puts state in with {@code fill}, and starts {@code load}, if the app has one, in the background.
     */
    void launchApp() throws SandboxException, IOException {
        App app = testCase.program().orElseThrow();
        requireApp("start", appScript("start"));
        Path pidFile = workDir.resolve("app.pid");
        String text = Files.exists(pidFile) ? Files.readString(pidFile).strip() : "";
        if (!text.matches("\\d+")) {
            throw new SandboxException(app + ": its start script left no pid in " + pidFile + " (found '" + text + "')");
        }
        pid = Integer.parseInt(text);
        requireApp("fill", appScript("fill"));
        if (Files.exists(app.scripts(repo).resolve("load"))) {
            ExecResult load = sandbox.exec(List.of("sh", "-c", "setsid sh \"$APP/load\" </dev/null >\"$WORK/load.out\" "
                    + "2>&1 & echo $! >\"$WORK/load.pid\""), appEnvironment(), timeouts.probe());
            requireApp("load", load);
        }
    }

    /** Runs one of the app's scripts ({@code start}, {@code fill}, {@code check}, {@code finish}, {@code stop}) in the sandbox. */
    public ExecResult appScript(String script) throws SandboxException {
        App app = testCase.program().orElseThrow(() -> new IllegalStateException(testCase.name() + " is not an app's case"));
        return sandbox.exec(List.of("sh", app.scripts(repo).resolve(script).toString()), appEnvironment(), APP_SCRIPT);
    }

    /**
     * The app's own clean shutdown, its optional {@code stop} script, before the sandbox kills what is left: a program
     * killed leaves behind what only its shutdown removes (PostgreSQL's /dev/shm segments, on the host when the
     * sandbox is native). Best effort, whatever the case's outcome: it judges nothing.
     */
    public void stopApp() {
        if (testCase.program().isEmpty() || !appHas("stop")) {
            return;
        }
        try {
            appScript("stop");
        } catch (SandboxException e) {
            // the sandbox's stop kills what is left
        }
    }

    /** Whether the app has the script (load, finish and stop are optional). */
    public boolean appHas(String script) {
        return testCase.program().map(a -> Files.exists(a.scripts(repo).resolve(script))).orElse(false);
    }

    private java.util.Map<String, String> appEnvironment() {
        App app = testCase.program().orElseThrow();
        java.util.Map<String, String> env = new java.util.HashMap<>(app.env());
        env.putAll(java.util.Map.of("WORK", workDir.toString(), "LOCAL", sandbox.localDir().toString(), "APP", app.scripts(repo).toString(), "REPO", repo.toString()));
        return env;
    }

    private void requireApp(String script, ExecResult r) throws SandboxException {
        if (!r.ok()) {
            throw new SandboxException(testCase.program().orElseThrow() + " " + script + ": "
                    + (r.timedOut() ? "did not finish within " + APP_SCRIPT.toSeconds() + " s" : r.lastLine()));
        }
    }

    /** Sends a signal to a pid of the sandbox (by name: USR2, KILL, ...). */
    public ExecResult signal(String signal, List<Integer> pids) throws SandboxException {
        List<String> argv = new ArrayList<>(List.of("sh", "-c", "kill -" + signal + " \"$@\"", "kill"));
        pids.forEach(p -> argv.add(Integer.toString(p)));
        return sandbox.exec(argv, timeouts.probe());
    }

    /** Kills the given pids and waits until they are gone (reaped by the sandbox's init). */
    void killAndAwaitGone(List<Integer> pids) throws SandboxException {
        List<String> argv = new ArrayList<>(List.of("sh", "-c",
                "kill -KILL \"$@\"; for p; do while [ -e /proc/$p/stat ]; do sleep 0.01; done; done", "kill"));
        pids.forEach(p -> argv.add(Integer.toString(p)));
        ExecResult r = sandbox.exec(argv, timeouts.probe());
        if (r.timedOut()) {
            throw new SandboxException("pids " + pids + " did not go away within " + timeouts.probe().toSeconds() + " s of SIGKILL");
        }
    }

    /** Has the memory fixture change its mappings and rewrite pages, and waits for its acknowledgements. */
    void pageWrite(PageWrite write) throws SandboxException, IOException {
        for (VmaChange change : write.vmaChanges()) {
            command(change.command());
        }
        command("write " + write.pages() + " " + write.seed());
    }

    /** Sends the fixture one command line and waits for its acknowledgement. */
    private void command(String line) throws SandboxException, IOException {
        long seq = ++commandSeq;
        Path cmd = workDir.resolve("cmd");
        Path tmp = workDir.resolve("cmd.tmp");
        Files.writeString(tmp, seq + " " + line + "\n");
        Files.move(tmp, cmd, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        signal("USR1", List.of(pid));
        Path ack = workDir.resolve("ack");
        try {
            await("fixture acknowledges command " + seq + " (" + line + ")").atMost(timeouts.ready()).pollInterval(Duration.ofMillis(10))
                    .until(() -> Files.exists(ack) && Files.readString(ack).strip().equals(Long.toString(seq)));
        } catch (ConditionTimeoutException e) {
            throw new SandboxException("the memory fixture did not do '" + line + "' within "
                    + timeouts.ready().toSeconds() + " s; its stderr: " + fixtureStderrTail());
        }
    }

    /** Asks the fixture for its verdict (SIGUSR2) and waits for it; no verdict leaves {@link #verdict()} empty. */
    void askVerdict() throws SandboxException {
        Path result = workDir.resolve("result");
        signal("USR2", List.of(pid));
        try {
            await("verdict of " + testCase.fixture().binary()).atMost(timeouts.verdict())
                    .pollInterval(Duration.ofMillis(10)).until(() -> Files.exists(result));
            verdict = Files.readString(result).strip();
        } catch (ConditionTimeoutException | IOException e) {
            verdict = null;
        }
    }
}
