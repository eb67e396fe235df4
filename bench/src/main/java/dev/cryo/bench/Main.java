package dev.cryo.bench;

import dev.cryo.bench.macro.BenchPlan;
import dev.cryo.bench.macro.BenchRun;
import dev.cryo.bench.macro.CheckpointTool;
import dev.cryo.bench.macro.Harness;
import dev.cryo.bench.macro.JsonReport;
import dev.cryo.bench.macro.MarkdownReport;
import dev.cryo.bench.macro.TimeCharts;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code make bench}: the macro harness. Dumps and restores fixtures with Cryo (and CRIU when BENCH_CRIU names
 * one), measures the machine's limits in the same run, prints the markdown table, and writes table, JSON and
 * charts to bench/target/bench-results/.
 * <p>
 * Exit status: 0 when every row passed, 1 when a tool failed a row (the table says which and why), 2 when the
 * harness itself could not run.
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        boolean quick = false;
        String criu = System.getenv("BENCH_CRIU");
        Path root = Path.of("").toAbsolutePath();
        String workloads = null;
        boolean resident = false;
        for (String a : args) {
            if (a.equals("--quick")) {
                quick = true;
            } else if (a.equals("--resident")) {
                resident = true;
            } else if (a.startsWith("--workloads=")) {
                workloads = a.substring("--workloads=".length());
            } else if (a.startsWith("--criu=")) {
                criu = a.substring(7);
            } else if (a.startsWith("--root=")) {
                root = Path.of(a.substring(7)).toAbsolutePath();
            } else {
                System.err.println("usage: dev.cryo.bench.Main [--quick] [--resident] [--criu=PATH] [--root=REPO] [--workloads=REGEX]");
                System.exit(2);
            }
        }
        List<CheckpointTool> tools = new ArrayList<>();
        List<String> absent = new ArrayList<>();
        String cryo = root.resolve("bin/cryo").toString();
        // a fresh JVM per command, even while a resident service runs
        tools.add(new CheckpointTool("cryo", List.of(cryo), java.util.Map.of("CRYO_RESIDENT", "0")));
        // BENCH_CRYO_BASELINE="-Dsome.switch=old": a second Cryo, row "cryo-base", run with those JVM options in
        // the same run, taking turns: a change measured against the path it replaces, under the same load.
        String baseline = System.getenv("BENCH_CRYO_BASELINE");
        if (baseline != null && !baseline.isBlank()) {
            tools.add(new CheckpointTool("cryo-base", List.of(cryo),
                    java.util.Map.of("CRYO_RESIDENT", "0", "CRYO_JAVA_OPTS", baseline)));
        }
        // BENCH_BASE_ROOT=/another/checkout: its bin/cryo as "cryo-base" (and "cryo-base-resident", its own resident
        // service, with --resident), taking turns with this checkout's: a commit measured against the one it
        // replaces, in one run, under the same load. That checkout must be built (engine jar, fixtures).
        String baseRoot = System.getenv("BENCH_BASE_ROOT");
        Path base = baseRoot == null || baseRoot.isBlank() ? null : Path.of(baseRoot).toAbsolutePath();
        if (base != null) {
            tools.add(new CheckpointTool("cryo-base", List.of(base.resolve("bin/cryo").toString()),
                    java.util.Map.of("CRYO_RESIDENT", "0")));
        }
        ResidentRun service = null;
        ResidentRun baseService = null;
        if (resident) {
            try {
                service = ResidentRun.start(root);
                tools.add(new CheckpointTool("cryo-resident", List.of(cryo), service.env()));
            } catch (Exception e) {
                System.err.println("bench: cannot start the resident service: " + e.getMessage());
                absent.add("cryo-resident: the resident service did not start (" + e.getMessage() + ")");
            }
            if (base != null) {
                try {
                    baseService = ResidentRun.start(base);
                    tools.add(new CheckpointTool("cryo-base-resident", List.of(base.resolve("bin/cryo").toString()),
                            baseService.env()));
                } catch (Exception e) {
                    System.err.println("bench: cannot start the base's resident service: " + e.getMessage());
                    absent.add("cryo-base-resident: its resident service did not start (" + e.getMessage() + ")");
                }
            }
        }
        if (criu != null && !criu.isBlank()) {
            tools.add(new CheckpointTool("criu", List.of(criu)));
        } else {
            absent.add("criu: not run (no BENCH_CRIU=/path/to/criu given)");
        }
        BenchPlan plan = quick ? BenchPlan.quick(root, tools, absent) : BenchPlan.full(root, tools, absent);
        if (workloads != null && !workloads.isBlank()) {
            plan = plan.only(workloads);
        }
        if (service != null) {
            Runtime.getRuntime().addShutdownHook(new Thread(service::stop, "cryo-bench-resident-stop"));
        }
        if (baseService != null) {
            Runtime.getRuntime().addShutdownHook(new Thread(baseService::stop, "cryo-bench-base-resident-stop"));
        }
        String reps = System.getenv("BENCH_REPS"); // more repetitions on a shared, noisy machine
        if (reps != null && !reps.isBlank()) {
            plan = plan.withReps(Integer.parseInt(reps.strip()));
        }
        try {
            BenchRun run = new Harness(plan, System.err).run();
            String table = MarkdownReport.render(run);
            Path results = plan.resultsDir();
            Files.createDirectories(results);
            String stamp = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC).format(run.started());
            Path json = results.resolve("bench-" + stamp + ".json");
            Files.writeString(json, JsonReport.render(run), StandardCharsets.UTF_8);
            Files.copy(json, results.resolve("latest.json"), StandardCopyOption.REPLACE_EXISTING);
            Files.writeString(results.resolve("bench-" + stamp + ".md"), table, StandardCharsets.UTF_8);
            Files.writeString(results.resolve("latest.md"), table, StandardCharsets.UTF_8);
            List<Path> charts = TimeCharts.write(run, results);
            System.out.println(table);
            System.out.println("Results: " + json + ", " + results.resolve("latest.md"));
            System.out.println("Charts: " + String.join(", ", charts.stream().map(Path::toString).toList()));
            System.exit(run.allPassed() ? 0 : 1);
        } catch (Exception e) {
            System.err.println("bench: the harness failed: " + e);
            e.printStackTrace();
            System.exit(2);
        }
    }
}
