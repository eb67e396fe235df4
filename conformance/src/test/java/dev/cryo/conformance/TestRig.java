package dev.cryo.conformance;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cryo.conformance.engine.CriuEngine;
import dev.cryo.conformance.engine.Engine;
import dev.cryo.conformance.run.CaseRunner;
import dev.cryo.conformance.run.Timeouts;
import dev.cryo.conformance.sandbox.SandboxKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** What the harness's own tests share: the repository, the fake and mutant engines, leftover checks. */
final class TestRig {
    static final Path REPO = findRepo();
    static final Path WORK = REPO.resolve("conformance/target/test-runs");

    static {
        // the suite's own tests fail cases on purpose, and a failed case's directory is kept; under /var/tmp (a
        // private clone's cases go there) nothing would ever remove them: they go when the tests end
        Path mirror = CaseRunner.reachableRootOf(WORK);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try (var paths = Files.walk(mirror)) {
                paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (java.io.IOException | java.io.UncheckedIOException gone) {
                // never made, or already gone
            }
        }, "remove " + mirror));
    }

    private TestRig() {
    }

    private static Path findRepo() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve("fixtures-c")) && Files.exists(dir.resolve("bin/cryo"))) {
                return dir;
            }
        }
        throw new IllegalStateException("cannot find the repository above " + Path.of("").toAbsolutePath());
    }

    /** Skips (with the reason) when the fixtures are not built or the sandbox cannot run here. */
    static void assumeUsable(SandboxKind kind) {
        assumeTrue(Files.isExecutable(REPO.resolve("fixtures-c/build/cryo-init")),
                "the C fixtures are not built: run `make fixtures` (make test does)");
        kind.unavailableReason().ifPresent(reason -> assumeTrue(false, kind.label() + " sandbox unavailable: " + reason));
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/crit")), "crit is not installed (apt-get install criu)");
    }

    static CaseRunner runner(Timeouts timeouts) {
        return new CaseRunner(REPO, WORK, timeouts);
    }

    static CaseRunner runner() {
        return runner(Timeouts.standard().withEngine(java.time.Duration.ofSeconds(60)));
    }

    /** fake-criu: freezes on dump, continues on restore; every check passes unless told otherwise. */
    static Engine fakeEngine(Map<String, String> env) {
        return new CriuEngine("fake", REPO.resolve("conformance/src/test/engines/fake-criu"), env);
    }

    static Engine mutant(String name, Engine inner) {
        return new CriuEngine("mutant-" + name, REPO.resolve("conformance/src/test/mutants").resolve(name),
                Map.of("CRYO_MUTANT_INNER", inner.binary().toString()));
    }

    static Engine mutantOverFake(String name) {
        return new CriuEngine("mutant-" + name + "-over-fake", REPO.resolve("conformance/src/test/mutants").resolve(name),
                Map.of("CRYO_MUTANT_INNER", REPO.resolve("conformance/src/test/engines/fake-criu").toString()));
    }

    /** Host pids of processes a case in {@code workDir} started (fixtures carry it in their environment). */
    static List<Long> processesOf(Path workDir) {
        List<Long> found = new ArrayList<>();
        String marker = "CRYO_FX_READY=" + workDir.toAbsolutePath().normalize().resolve("ready");
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String environ = new String(Files.readAllBytes(p.resolve("environ")));
                    if (environ.contains(marker)) {
                        found.add(Long.parseLong(p.getFileName().toString()));
                    }
                } catch (IOException e) {
                    // gone, or a kernel thread
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return found;
    }

    static Path workDirOf(SandboxKind kind, String caseName) {
        return WORK.resolve(kind.label()).resolve(caseName);
    }
}
