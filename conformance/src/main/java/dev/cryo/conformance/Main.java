package dev.cryo.conformance;

import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.cases.Cases;
import dev.cryo.conformance.engine.CriuEngine;
import dev.cryo.conformance.engine.CryoEngine;
import dev.cryo.conformance.engine.Engine;
import dev.cryo.conformance.engine.EnginePair;
import dev.cryo.conformance.property.Properties;
import dev.cryo.conformance.property.ScenarioProperty;
import dev.cryo.conformance.report.Report;
import dev.cryo.conformance.run.CaseRunner;
import dev.cryo.conformance.run.Timeouts;
import dev.cryo.conformance.sandbox.SandboxKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * {@code make conformance [ENGINE=/path/to/criu] [SANDBOX=native|docker|vagrant[,...]] [SEED=n]}:
 * every case and property in each sandbox, a progress line per case, then the table; writes
 * conformance/target/report.md and JUnit XML; exits 1 on any failure.
 * {@code RESTORE_ENGINE=PATH|cryo} restores with another engine what ENGINE dumped (see {@link EnginePair}).
 * Options: --engine=PATH|cryo --restore-engine=PATH|cryo --sandbox=LIST --seed=N --cases=REGEX --examples=N --repo=PATH.
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        try {
            System.exit(run(args));
        } catch (IllegalArgumentException e) {
            System.err.println("conformance: " + e.getMessage());
            System.exit(2);
        }
    }

    static int run(String[] args) {
        Path repo = option(args, "repo").map(Path::of).orElseGet(Main::findRepo).toAbsolutePath().normalize();
        Engine engine = engine(option(args, "engine"), repo);
        Optional<String> restorer = option(args, "restore-engine").filter(s -> !s.isBlank());
        if (restorer.isPresent()) {
            engine = new EnginePair(engine, engine(restorer, repo));
        }
        List<SandboxKind> kinds = option(args, "sandbox").filter(s -> !s.isBlank())
                .map(s -> Arrays.stream(s.split(",")).map(SandboxKind::parse).toList())
                .orElse(List.of(SandboxKind.NATIVE, SandboxKind.DOCKER));
        long seed = option(args, "seed").filter(s -> !s.isBlank()).map(Long::parseLong)
                .orElseGet(() -> new SecureRandom().nextLong() & Long.MAX_VALUE);
        Pattern only = Pattern.compile(option(args, "cases").orElse(".*"));
        int examples = option(args, "examples").map(Integer::parseInt).orElse(3);

        List<Case> cases = Cases.all().stream().filter(c -> only.matcher(c.name()).find()).toList();
        List<ScenarioProperty> properties = Properties.all().stream().filter(p -> only.matcher(p.name()).find()).toList();
        Path target = repo.resolve("conformance/target");
        System.out.printf("Cryo conformance: engine %s (%s), sandboxes %s, %d cases + %d properties, seed %d%n",
                engine.name(), engine.binary(), kinds.stream().map(SandboxKind::label).toList(), cases.size(),
                properties.size(), seed);
        CaseRunner runner = new CaseRunner(repo, target.resolve("runs"), Timeouts.standard());
        Report report = new Suite(repo, engine, runner, System.out).run(cases, properties, kinds, seed, examples, 6);
        System.out.println();
        System.out.print(report.table());
        try {
            report.write(target);
            System.out.println("Report: " + target.resolve("report.md") + ", JUnit XML: " + target.resolve("conformance-reports"));
        } catch (IOException e) {
            System.err.println("conformance: cannot write the report into " + target + ": " + e.getMessage());
            return 1;
        }
        return report.anyFailed() ? 1 : 0;
    }

    /** {@code cryo} or nothing: this repository's Cryo; else the path of a CRIU-compatible binary. */
    private static Engine engine(Optional<String> option, Path repo) {
        return option.filter(s -> !s.isBlank() && !s.equals("cryo")).map(p -> (Engine) CriuEngine.at(Path.of(p)))
                .orElseGet(() -> new CryoEngine(repo));
    }

    private static java.util.Optional<String> option(String[] args, String name) {
        return Arrays.stream(args).filter(a -> a.startsWith("--" + name + "=")).map(a -> a.substring(name.length() + 3))
                .reduce((a, b) -> b);
    }

    /** The repository: the nearest directory up from here holding bin/cryo and fixtures-c. */
    private static Path findRepo() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.exists(dir.resolve("bin/cryo")) && Files.isDirectory(dir.resolve("fixtures-c"))) {
                return dir;
            }
        }
        throw new IllegalArgumentException("cannot find the repository (bin/cryo, fixtures-c) above "
                + Path.of("").toAbsolutePath() + "; pass --repo=PATH");
    }
}
