package dev.cryo.engine.cli;

import dev.cryo.engine.check.CheckReport;
import dev.cryo.engine.check.Feature;
import dev.cryo.engine.check.KernelCheck;
import dev.cryo.engine.sys.probe.Finding;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Optional;

/** {@code cryo check}: probe every kernel feature the engine relies on. */
@Command(name = "check", sortOptions = false,
        description = {"Probe, for real, each kernel feature dump and restore rely on, and say whether this "
                + "kernel can dump and restore. Exits 0 when it can."})
final class CheckCommand implements CryoCommand, QuickParse.Target {
    @Option(names = "--feature", paramLabel = "NAME",
            description = "check one feature (exit 0 when present); 'list' names them all")
    String feature;

    @Option(names = "--extra", negatable = true, description = "also report features CRIU checks that cryo does not use")
    boolean extra;

    @Option(names = "--experimental", negatable = true, description = "accepted for CRIU compatibility")
    boolean experimental;

    @Option(names = "--all", description = "the whole table: every feature cryo and CRIU 4.2 know, probed")
    boolean all;

    @Mixin
    CommonOptions common = new CommonOptions();

    /** The options above as {@link QuickParse} reads them; tests hold this to the annotations. */
    static final List<QuickParse.Opt> QUICK = QuickParse.with(CommonOptions.QUICK,
            new QuickParse.Opt((char) 0, QuickParse.Kind.VALUE, "feature"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.NEGATABLE, "extra"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.NEGATABLE, "experimental"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.FLAG, "all"));

    @Override
    public List<QuickParse.Opt> quickOptions() {
        return QUICK;
    }

    @Override
    public void set(String key, String value) {
        switch (key) {
            case "feature" -> feature = value;
            case "extra" -> extra = Boolean.parseBoolean(value);
            case "experimental" -> experimental = Boolean.parseBoolean(value);
            case "all" -> all = Boolean.parseBoolean(value);
            default -> {
                if (!common.set(key, value)) {
                    throw new IllegalArgumentException("no option " + key);
                }
            }
        }
    }

    /** The feature --feature names; empty for the full check. */
    Optional<Feature> selected() throws UsageError {
        if (feature == null || feature.equals("list")) {
            return Optional.empty();
        }
        return Optional.of(Feature.byName(feature).orElseThrow(() -> new UsageError(
                "unknown feature " + feature + " (cryo check --feature list names them)")));
    }

    @Override
    public int run(Session session) throws UsageError {
        if ("list".equals(feature)) {
            session.out.println(String.join(" ", Feature.names()));
            return 0;
        }
        Optional<Feature> one = selected();
        KernelCheck check = new KernelCheck();
        if (one.isPresent()) {
            Finding f = check.probe(one.get());
            session.out.println(one.get().featureName() + (f.present() ? " is supported: " : " is not supported: ")
                    + f.detail());
            return f.present() ? 0 : 1;
        }
        CheckReport report = check.report(Feature.listed(extra || all, all));
        report.lines().forEach(session.out::println);
        return report.exitCode();
    }
}
