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
import dev.cryo.conformance.sandbox.QemuVm;
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
 * The vagrant kind boots its VM once, before its first case, and stops it after its last.
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
            perKind.add(pool.submit(() -> inKind(kind, cases, properties, seed, examples, shrinkCycles, progress)));
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

    private List<CaseResult> inKind(SandboxKind kind, List<Case> cases, List<ScenarioProperty> properties, long seed,
                                    int examples, int shrinkCycles, Progress progress) {
        Optional<String> engineProblem = engine.unusableReason();
        if (kind == SandboxKind.VAGRANT && engineProblem.isEmpty() && kind.unavailableReason().isEmpty()) {
            try {
                return inVm(cases, properties, seed, examples, shrinkCycles, progress);
            } finally {
                QemuVm.shared(repo).stop();
            }
        }
        return inSandbox(kind, cases, properties, seed, examples, shrinkCycles, progress,
                engineProblem.map(p -> "engine: " + p));
    }

    /**
     * The vagrant kind: the VM is built (or taken from its cache) and booted once, before the first case, so no
     * case's time bound pays for it; a VM that cannot come up fails every case with the reason.
     */
    private List<CaseResult> inVm(List<Case> cases, List<ScenarioProperty> properties, long seed, int examples,
                                  int shrinkCycles, Progress progress) {
        QemuVm vm = QemuVm.shared(repo);
        long start = System.nanoTime();
        out.println("[vagrant] building (or reusing) the Debian 12 image and booting it with qemu...");
        Optional<String> problem;
        try {
            vm.ensureUp();
            out.printf(Locale.ROOT, "[vagrant] the VM is up in %.0f s, kernel %s, qemu on %s%n",
                    (System.nanoTime() - start) / 1e9, vm.kernel(), QemuVm.accel());
            problem = Optional.empty();
        } catch (SandboxException e) {
            out.println("[vagrant] the VM did not come up: " + e.getMessage());
            problem = Optional.of("VM: " + e.getMessage());
        }
        List<CaseResult> results = new ArrayList<>();
        if (problem.isEmpty() && engine instanceof CryoEngine) {
            results.add(kernelCheck(vm));
        }
        results.addAll(inSandbox(SandboxKind.VAGRANT, cases, properties, seed, examples, shrinkCycles, progress, problem));
        return results;
    }

    /**
     * {@code cryo check} on the VM's kernel, a row of the table: Debian 12's 6.1 has soft-dirty but neither
     * {@code PAGEMAP_SCAN} nor uffd-wp's async mode (both 6.7), so Cryo must name those two absent and offer
     * soft-dirty as its kernel tracker; the detail shows what check said of them and of the vDSO layout.
     */
    private CaseResult kernelCheck(QemuVm vm) {
        long start = System.nanoTime();
        String name = "kernel-check";
        ExecResult check;
        try {
            check = vm.run(repo.resolve("bin/cryo") + " check", Duration.ofMinutes(10));
        } catch (SandboxException e) {
            return new CaseResult(name, "vagrant", engine.name(), Outcome.FAIL, e.getMessage(), List.of("harness"),
                    Duration.ofNanos(System.nanoTime() - start));
        }
        out.println("[vagrant] cryo check on " + vm.kernel() + ":");
        check.stdout().lines().forEach(l -> out.println("          " + l));
        java.util.Map<String, String> said = new java.util.LinkedHashMap<>();
        String trackers = "";
        for (String line : check.stdout().split("\n")) {
            String[] w = line.strip().split("\\s+", 3);
            if (w.length >= 2 && (w[1].equals("yes") || w[1].equals("no"))) {
                said.put(w[0], w[1] + (w.length > 2 && w[0].equals("vdso_layout") ? " (" + w[2] + ")" : ""));
            }
            if (line.startsWith("Dirty-page trackers:")) {
                trackers = line.substring("Dirty-page trackers:".length()).strip();
            }
        }
        List<String> wrong = new ArrayList<>();
        java.util.Map.of("soft_dirty", "yes", "pagemap_scan", "no", "uffd_wp_async", "no").forEach((feature, expected) -> {
            if (!said.getOrDefault(feature, "?").startsWith(expected)) {
                wrong.add(feature + " should be " + expected + " on Debian 12's kernel, check said "
                        + said.getOrDefault(feature, "nothing"));
            }
        });
        if (!trackers.startsWith("soft-dirty")) {
            wrong.add("the best tracker should be soft-dirty, check offered: " + trackers);
        }
        String detail = vm.kernel() + ": " + String.join(", ", said.entrySet().stream()
                .filter(e -> List.of("soft_dirty", "pagemap_scan", "uffd_wp_async", "vdso_layout").contains(e.getKey()))
                .map(e -> e.getKey() + " " + e.getValue()).toList()) + "; trackers: " + trackers
                + (check.ok() ? "" : "; exit " + check.exitCode());
        CaseResult r = new CaseResult(name, "vagrant", engine.name(), wrong.isEmpty() ? Outcome.PASS : Outcome.FAIL,
                wrong.isEmpty() ? detail : String.join("; ", wrong) + " (" + detail + ")",
                wrong.isEmpty() ? List.of() : List.of("kernel"), Duration.ofNanos(System.nanoTime() - start));
        out.println("[vagrant] " + name + ": " + line(r));
        return r;
    }

    private List<CaseResult> inSandbox(SandboxKind kind, List<Case> cases, List<ScenarioProperty> properties, long seed,
                                       int examples, int shrinkCycles, Progress progress, Optional<String> engineProblem) {
        List<CaseResult> results = new ArrayList<>();
        for (Case c : cases) {
            CaseResult r = engineProblem.isPresent()
                    ? new CaseResult(c.name(), kind.label(), engine.name(), Outcome.FAIL, engineProblem.get(),
                    List.of("engine"), Duration.ZERO)
                    : runner.run(c, kind, engine);
            results.add(r);
            progress.done(r);
        }
        for (ScenarioProperty p : properties) {
            CaseResult r = engineProblem.isPresent()
                    ? new CaseResult(p.name(), kind.label(), engine.name(), Outcome.FAIL, engineProblem.get(),
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

    private static String line(CaseResult r) {
        String head = String.format(Locale.ROOT, "%s (%.1f s)", r.outcome().label().toUpperCase(Locale.ROOT),
                r.took().toMillis() / 1000.0);
        return r.message().isEmpty() ? head : head + ": " + r.message();
    }
}
