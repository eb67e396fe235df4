package dev.cryo.conformance;

import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.engine.CryoEngine;
import dev.cryo.conformance.engine.Engine;
import dev.cryo.conformance.property.ScenarioProperty;
import dev.cryo.conformance.report.Report;
import dev.cryo.conformance.run.CaseResult;
import dev.cryo.conformance.run.CaseRunner;
import dev.cryo.conformance.run.Outcome;
import dev.cryo.conformance.sandbox.DockerSandbox;
import dev.cryo.conformance.sandbox.ExecResult;
import dev.cryo.conformance.sandbox.SandboxException;
import dev.cryo.conformance.sandbox.SandboxKind;
import dev.cryo.conformance.sandbox.VagrantSandbox;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Runs cases and properties in sandboxes with one engine and prints a progress line per case. Each
 * sandbox kind runs its cases one after another; the kinds run side by side.
 * The vagrant sandbox runs the whole suite inside a VM instead, in its native and docker sandboxes.
 */
public final class Suite {
    private final Path repo;
    private final Engine engine;
    private final CaseRunner runner;
    private final PrintStream out;

    public Suite(Path repo, Engine engine, CaseRunner runner, PrintStream out) {
        this.repo = repo;
        this.engine = engine;
        this.runner = runner;
        this.out = out;
    }

    public Report run(List<Case> cases, List<ScenarioProperty> properties, List<SandboxKind> kinds, long seed,
                      int examples, int shrinkCycles) {
        long start = System.nanoTime();
        if (kinds.contains(SandboxKind.DOCKER)) {
            DockerSandbox.removeLeftovers(repo.resolve("conformance/target/runs"));
        }
        Progress progress = new Progress((cases.size() + properties.size()) * kinds.size());
        // sandboxes are independent: each runs its cases in order, beside the others
        ExecutorService pool = Executors.newFixedThreadPool(kinds.size());
        List<Future<List<CaseResult>>> perKind = new ArrayList<>();
        for (SandboxKind kind : kinds) {
            perKind.add(pool.submit(() -> kind == SandboxKind.VAGRANT
                    ? inVagrant(cases, properties, seed)
                    : inSandbox(kind, cases, properties, seed, examples, shrinkCycles, progress)));
        }
        List<CaseResult> results = new ArrayList<>();
        try {
            for (Future<List<CaseResult>> f : perKind) {
                results.addAll(f.get());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            throw new IllegalStateException("the suite itself failed: " + e.getCause(), e.getCause());
        } finally {
            pool.shutdownNow();
        }
        return new Report(engine.name(), seed, results, Duration.ofNanos(System.nanoTime() - start));
    }

    private List<CaseResult> inSandbox(SandboxKind kind, List<Case> cases, List<ScenarioProperty> properties, long seed,
                                       int examples, int shrinkCycles, Progress progress) {
        Optional<String> engineProblem = engine instanceof CryoEngine cryo ? cryo.unusableReason() : Optional.empty();
        List<CaseResult> results = new ArrayList<>();
        for (Case c : cases) {
            CaseResult r = engineProblem.isPresent()
                    ? new CaseResult(c.name(), kind.label(), engine.name(), Outcome.FAIL, "engine: " + engineProblem.get(),
                    List.of("engine"), Duration.ZERO)
                    : runner.run(c, kind, engine);
            results.add(r);
            progress.done(r);
        }
        for (ScenarioProperty p : properties) {
            CaseResult r = engineProblem.isPresent()
                    ? new CaseResult(p.name(), kind.label(), engine.name(), Outcome.FAIL, "engine: " + engineProblem.get(),
                    List.of("engine"), Duration.ZERO)
                    : property(p, kind, seed, examples, shrinkCycles);
            results.add(r);
            progress.done(r);
        }
        return results;
    }

    /** One line per finished case, whichever sandbox finished it. */
    private final class Progress {
        private final int total;
        private int finished;

        Progress(int total) {
            this.total = total;
        }

        synchronized void done(CaseResult r) {
            out.printf(Locale.ROOT, "[%2d/%d] %-7s %-36s %s%n", ++finished, total, r.sandbox(), r.caseName(), line(r));
            out.flush();
        }
    }

    private CaseResult property(ScenarioProperty p, SandboxKind kind, long seed, int examples, int shrinkCycles) {
        Optional<String> unavailable = kind.unavailableReason();
        if (unavailable.isPresent()) {
            return CaseResult.skip(p.name(), kind.label(), engine.name(), unavailable.get());
        }
        long start = System.nanoTime();
        int[] example = {0};
        ScenarioProperty.Finding finding = p.checkCases(seed, Math.max(examples, p.minExamples()), shrinkCycles, c -> {
            CaseResult r = runner.run(c, kind, engine);
            out.printf(Locale.ROOT, "        %-7s %s #%d [%s]: %s%n", kind.label(), p.name(), ++example[0], c.scenario(), line(r));
            return r;
        });
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        if (finding.held()) {
            return new CaseResult(p.name(), kind.label(), engine.name(), Outcome.PASS,
                    finding.examples() + " scenarios held", List.of(), took);
        }
        return new CaseResult(p.name(), kind.label(), engine.name(), Outcome.FAIL,
                "smallest failing scenario [" + finding.smallest() + "] (seed " + seed + "): " + finding.failure(),
                List.of("property"), took);
    }

    private List<CaseResult> inVagrant(List<Case> cases, List<ScenarioProperty> properties, long seed) {
        List<String> names = new ArrayList<>(cases.stream().map(Case::name).toList());
        properties.forEach(p -> names.add(p.name()));
        Optional<String> unavailable = SandboxKind.VAGRANT.unavailableReason();
        if (unavailable.isPresent()) {
            out.println("[vagrant] skipped: " + unavailable.get());
            return names.stream().map(c -> CaseResult.skip(c, "vagrant", engine.name(), unavailable.get())).toList();
        }
        long start = System.nanoTime();
        try (VagrantSandbox vm = new VagrantSandbox(repo)) {
            out.println("[vagrant] bringing the VM up and provisioning it (vagrant/Vagrantfile)...");
            vm.start();
            ExecResult suite = vm.exec(List.of("make", "conformance", "SANDBOX=native,docker", "SEED=" + seed),
                    Duration.ofMinutes(60));
            out.print(suite.stdout());
            Outcome outcome = suite.ok() ? Outcome.PASS : Outcome.FAIL;
            return List.of(new CaseResult("suite-in-vm", "vagrant", engine.name(), outcome,
                    suite.ok() ? "" : "make conformance in the VM: " + suite.lastLine(), List.of(),
                    Duration.ofNanos(System.nanoTime() - start)));
        } catch (SandboxException e) {
            return List.of(new CaseResult("suite-in-vm", "vagrant", engine.name(), Outcome.FAIL, e.getMessage(),
                    List.of("harness"), Duration.ofNanos(System.nanoTime() - start)));
        }
    }

    private static String line(CaseResult r) {
        String head = String.format(Locale.ROOT, "%s (%.1f s)", r.outcome().label().toUpperCase(Locale.ROOT),
                r.took().toMillis() / 1000.0);
        return r.message().isEmpty() ? head : head + ": " + r.message();
    }
}
