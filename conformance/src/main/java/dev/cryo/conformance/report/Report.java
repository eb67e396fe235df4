package dev.cryo.conformance.report;

import dev.cryo.conformance.run.CaseResult;
import dev.cryo.conformance.run.Outcome;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The suite's results: a table for the terminal, report.md, and JUnit XML in Surefire's format. */
public record Report(String engine, long seed, List<CaseResult> results, Duration took) {

    public Report {
        results = List.copyOf(results);
    }

    public boolean anyFailed() {
        return results.stream().anyMatch(r -> r.outcome().failing());
    }

    public long count(Outcome outcome) {
        return results.stream().filter(r -> r.outcome() == outcome).count();
    }

    /** One line per case and sandbox: case, sandbox, result, time, and why (cut to fit a terminal). */
    public String table() {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"case", "sandbox", "result", "time", "detail"});
        for (CaseResult r : results) {
            rows.add(new String[] {r.caseName(), r.sandbox(), r.outcome().label(), seconds(r.took()), cut(r.message(), 140)});
        }
        int[] width = new int[5];
        rows.forEach(row -> {
            for (int i = 0; i < 4; i++) {
                width[i] = Math.max(width[i], row[i].length());
            }
        });
        StringBuilder out = new StringBuilder();
        for (int n = 0; n < rows.size(); n++) {
            String[] row = rows.get(n);
            out.append(String.format("%-" + width[0] + "s  %-" + width[1] + "s  %-" + width[2] + "s  %" + width[3] + "s  %s",
                    (Object[]) row).stripTrailing()).append('\n');
            if (n == 0) {
                out.append("-".repeat(width[0] + width[1] + width[2] + width[3] + 14)).append('\n');
            }
        }
        if (sandboxes().size() > 1) {
            out.append('\n').append(matrix(false));
        }
        out.append(summary()).append('\n');
        return out.toString();
    }

    /** The run's sandboxes, in the order their first result came. */
    public List<String> sandboxes() {
        return results.stream().map(CaseResult::sandbox).distinct().toList();
    }

    /**
     * Each case on one line, a column per sandbox with its result and time, so that the kernels and sandboxes of
     * one run read side by side; "-" where the case did not run in that sandbox.
     */
    public String matrix(boolean markdown) {
        List<String> kinds = sandboxes();
        Map<String, Map<String, CaseResult>> byCase = new LinkedHashMap<>();
        results.forEach(r -> byCase.computeIfAbsent(r.caseName(), k -> new LinkedHashMap<>()).put(r.sandbox(), r));
        List<String[]> rows = new ArrayList<>();
        List<String> head = new ArrayList<>(List.of("case"));
        head.addAll(kinds);
        rows.add(head.toArray(String[]::new));
        byCase.forEach((name, bySandbox) -> {
            List<String> row = new ArrayList<>(List.of(name));
            for (String kind : kinds) {
                CaseResult r = bySandbox.get(kind);
                String cell = r == null ? "-" : r.outcome().label() + " " + seconds(r.took());
                row.add(markdown && r != null && r.outcome() != Outcome.PASS ? "**" + cell + "**" : cell);
            }
            rows.add(row.toArray(String[]::new));
        });
        StringBuilder out = new StringBuilder();
        if (markdown) {
            for (int n = 0; n < rows.size(); n++) {
                out.append("| ").append(String.join(" | ", rows.get(n))).append(" |\n");
                if (n == 0) {
                    out.append("|---".repeat(kinds.size() + 1)).append("|\n");
                }
            }
            return out.toString();
        }
        int[] width = new int[kinds.size() + 1];
        rows.forEach(row -> {
            for (int i = 0; i < row.length; i++) {
                width[i] = Math.max(width[i], row[i].length());
            }
        });
        for (int n = 0; n < rows.size(); n++) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < width.length; i++) {
                line.append(String.format("%-" + width[i] + "s  ", rows.get(n)[i]));
            }
            out.append(line.toString().stripTrailing()).append('\n');
            if (n == 0) {
                out.append("-".repeat(java.util.Arrays.stream(width).sum() + 2 * (width.length - 1))).append('\n');
            }
        }
        return out.toString();
    }

    public String summary() {
        return String.format(Locale.ROOT, "%d passed, %d failed, %d skipped, %d xfail (known gaps), %d xpass in %s "
                        + "(engine %s, seed %d; replay: make conformance SEED=%d)", count(Outcome.PASS), count(Outcome.FAIL),
                count(Outcome.SKIP), count(Outcome.XFAIL), count(Outcome.XPASS), seconds(took), engine, seed, seed);
    }

    public String markdown() {
        StringBuilder md = new StringBuilder("# Conformance report\n\n");
        md.append("Engine `").append(engine).append("`, seed `").append(seed).append("` (replay: `make conformance SEED=")
                .append(seed).append("`).\n\n").append(summary()).append("\n\n");
        if (sandboxes().size() > 1) {
            md.append(matrix(true)).append('\n');
        }
        md.append("| case | sandbox | result | time | detail |\n|---|---|---|---|---|\n");
        for (CaseResult r : results) {
            md.append("| ").append(r.caseName()).append(" | ").append(r.sandbox()).append(" | ")
                    .append(r.outcome() == Outcome.PASS ? "pass" : "**" + r.outcome().label() + "**").append(" | ")
                    .append(seconds(r.took())).append(" | ").append(r.message().replace("|", "\\|").replace("\n", " "))
                    .append(" |\n");
        }
        return md.toString();
    }

    /** Writes report.md into {@code targetDir} and TEST-conformance.SANDBOX.xml files into {@code targetDir/conformance-reports}. */
    public void write(Path targetDir) throws IOException {
        Files.createDirectories(targetDir);
        Files.writeString(targetDir.resolve("report.md"), markdown());
        Path junitDir = targetDir.resolve("conformance-reports");
        Files.createDirectories(junitDir);
        // an earlier run's sandboxes must not look like part of this one
        try (var old = Files.newDirectoryStream(junitDir, "TEST-conformance.*.xml")) {
            for (Path p : old) {
                Files.delete(p);
            }
        }
        Map<String, List<CaseResult>> bySandbox = new LinkedHashMap<>();
        results.forEach(r -> bySandbox.computeIfAbsent(r.sandbox(), k -> new ArrayList<>()).add(r));
        for (Map.Entry<String, List<CaseResult>> suite : bySandbox.entrySet()) {
            Files.writeString(junitDir.resolve("TEST-conformance." + suite.getKey() + ".xml"), junit(suite.getKey(), suite.getValue()));
        }
    }

    public String junit(String sandbox, List<CaseResult> cases) {
        String suiteName = "conformance." + sandbox;
        double time = cases.stream().mapToLong(r -> r.took().toMillis()).sum() / 1000.0;
        StringBuilder xml = new StringBuilder("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        xml.append(String.format(Locale.ROOT, "<testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\" time=\"%.3f\">\n",
                suiteName, cases.size(), cases.stream().filter(r -> r.outcome().failing()).count(),
                cases.stream().filter(r -> r.outcome() == Outcome.SKIP || r.outcome() == Outcome.XFAIL).count(), time));
        xml.append("  <properties>\n    <property name=\"engine\" value=\"").append(escape(engine)).append("\"/>\n")
                .append("    <property name=\"seed\" value=\"").append(seed).append("\"/>\n  </properties>\n");
        for (CaseResult r : cases) {
            xml.append(String.format(Locale.ROOT, "  <testcase name=\"%s\" classname=\"%s\" time=\"%.3f\"",
                    escape(r.caseName()), suiteName, r.took().toMillis() / 1000.0));
            switch (r.outcome()) {
                case PASS -> xml.append("/>\n");
                case FAIL, XPASS -> xml.append(">\n    <failure message=\"").append(escape(r.message())).append("\" type=\"")
                        .append(escape(String.join(",", r.failedChecks()))).append("\">").append(escape(r.message()))
                        .append("</failure>\n  </testcase>\n");
                case SKIP -> xml.append(">\n    <skipped message=\"").append(escape(r.message())).append("\"/>\n  </testcase>\n");
                // JUnit has no expected failure: a known gap is reported as skipped, with the engine's refusal
                case XFAIL -> xml.append(">\n    <skipped message=\"xfail: ").append(escape(r.message()))
                        .append("\"/>\n  </testcase>\n");
            }
        }
        return xml.append("</testsuite>\n").toString();
    }

    static String seconds(Duration d) {
        return String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1000.0);
    }

    private static String cut(String s, int max) {
        String line = s.replace('\n', ' ');
        return line.length() <= max ? line : line.substring(0, max - 3) + "...";
    }

    private static String escape(String s) {
        StringBuilder out = new StringBuilder();
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                default -> {
                    if (c >= 0x20 || c == '\t' || c == '\n') {
                        out.append(c);
                    }
                }
            }
        }
        return out.toString();
    }
}
