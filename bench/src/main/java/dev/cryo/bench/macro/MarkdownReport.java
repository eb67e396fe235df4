package dev.cryo.bench.macro;

import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/** The run as markdown: machine limits, then one table row per tool, workload and directory (medians). */
public final class MarkdownReport {
    private MarkdownReport() {
    }

    public static String render(BenchRun run) {
        StringBuilder s = new StringBuilder();
        BenchPlan plan = run.plan();
        s.append(String.format(Locale.ROOT, "### Cryo bench: %s run, %s%n%n", plan.quick() ? "QUICK" : "full",
                DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").withZone(ZoneOffset.UTC).format(run.started())));
        BenchRun.Host h = run.host();
        s.append(String.format(Locale.ROOT, "%s, %d CPUs, %.0f GiB RAM, harness on %s; %d repetition%s per row "
                        + "(medians), %.0f s in all; load average %.1f at the start, %.1f at the end; code at %s.%n%n", h.kernel(),
                h.cpus(), h.memoryBytes() / 1073741824.0, h.jvm(), plan.reps(), plan.reps() == 1 ? "" : "s",
                run.seconds(), h.loadAtStart(), h.loadAtEnd(), run.revision()));
        run.toolVersions().forEach((tool, v) -> s.append("- ").append(tool).append(": ").append(v).append('\n'));
        for (String absent : plan.absentTools()) {
            s.append("- ").append(absent).append('\n');
        }
        s.append("\nMachine limits, measured at the start and the end of this run (the best of both):\n\n"
                + "| limit | rate | how |\n|---|---:|---|\n");
        s.append(String.format(Locale.ROOT, "| process_vm_readv | %s | %s |%n", gbps(run.vmCopy().readvBytesPerSec()),
                run.vmCopy().method()));
        s.append(String.format(Locale.ROOT, "| process_vm_writev | %s | same |%n", gbps(run.vmCopy().writevBytesPerSec())));
        run.dirs().forEach((kind, d) -> s.append(String.format(Locale.ROOT, "| %s write (dd) | %s | `%s`, best of %d at the start and %d at the end, on %s |%n",
                kind.label, gbps(d.write().bytesPerSec()), d.write().command().replaceAll("of=\\S+/", "of=DIR/"),
                MachineLimits.DD_REPS, MachineLimits.DD_REPS, d.note())));
        s.append("\n| tool | workload | dir | memory | frozen | dump | restore | image | frozen rate | memdump | memwrite | restore rate | result |\n");
        s.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (Row row : run.rows()) {
            Figures f = Figures.of(row, run);
            s.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n",
                    row.tool(), row.workload().name(), row.dir().label, mib(row.memoryBytes()), ms(row.frozenUs() / 1e3),
                    sec(row.dumpWallNanos() / 1e9), sec(row.restoreWallNanos() / 1e9), mib(row.imageBytes()),
                    ratio(f.dumpRate(), f.dumpBound(), "serial"), ratio(f.memdumpRate(), f.readv(), "readv"),
                    ratio(f.memwriteRate(), f.ddWrite(), "dd"), ratio(f.restoreRate(), f.writev(), "writev"),
                    result(row)));
        }
        s.append(perThread(run));
        s.append("""

                memory: the fixture's private anonymous memory before the dump. frozen: stats-dump frozen_time, how long \
                the process could not run. dump, restore: wall time of the tool's command (process start included). \
                image: the images directory, logs excluded. Rates are page bytes (pages_written x 4096) per second: \
                frozen rate over frozen_time, against the serial bound 1/(1/readv + 1/dd) (copy then write, no overlap); \
                memdump over memdump_time, against process_vm_readv; memwrite over memwrite_time, against the directory's \
                dd rate; restore rate over stats-restore restore_time, against process_vm_writev. A ratio over 1 is \
                possible: dd syncs to the device, dumps do not. "-": not measured, or under 16 MiB of pages (a rate \
                there measures fixed costs). result: the restored fixture's own verdict, or the tool's error.
                """);
        return s.toString();
    }

    /**
     * Frozen time per extra thread, for each tool and directory where both the counter (one thread) and a
     * threads-N row passed: (frozen(threads-N) - frozen(counter)) / N, both medians of this run.
     */
    static String perThread(BenchRun run) {
        StringBuilder s = new StringBuilder();
        for (Row t : run.rows()) {
            int extra = t.workload().extraThreads();
            if (extra == 0 || !t.passed()) {
                continue;
            }
            for (Row c : run.rows()) {
                if (c.tool().equals(t.tool()) && c.dir() == t.dir() && c.workload().name().equals("counter") && c.passed()) {
                    double us = (t.frozenUs() - c.frozenUs()) / extra;
                    s.append(String.format(Locale.ROOT, "%n- %s, %s: frozen time per extra thread %.0f us "
                                    + "((%s - %s) / %d, %s minus counter)", t.tool(), t.dir().label, us,
                            ms(t.frozenUs() / 1e3), ms(c.frozenUs() / 1e3), extra, t.workload().name()));
                }
            }
        }
        for (Row t : run.rows()) {
            int extra = t.workload().extraTasks();
            if (extra == 0 || !t.passed()) {
                continue;
            }
            for (Row c : run.rows()) {
                if (c.tool().equals(t.tool()) && c.dir() == t.dir() && c.workload().name().equals("counter") && c.passed()) {
                    s.append(String.format(Locale.ROOT, "%n- %s, %s: frozen time per extra task %.1f ms "
                                    + "((%s - %s) / %d, %s minus counter; each task with 1 MiB of its own)", t.tool(),
                            t.dir().label, (t.frozenUs() - c.frozenUs()) / extra / 1e3, ms(t.frozenUs() / 1e3),
                            ms(c.frozenUs() / 1e3), extra, t.workload().name()));
                }
            }
        }
        return s.length() == 0 ? "" : s.append('\n').toString();
    }

    static String result(Row row) {
        String p = row.problem();
        if (p == null) {
            return "PASS";
        }
        return "error: " + p.replace("|", "\\|").replace("\n", " ");
    }

    static String gbps(double bytesPerSec) {
        return Double.isNaN(bytesPerSec) ? "-" : String.format(Locale.ROOT, "%.2f GB/s", bytesPerSec / 1e9);
    }

    static String ratio(double rate, double limit, String name) {
        if (Double.isNaN(rate)) {
            return "-";
        }
        return String.format(Locale.ROOT, "%.2f GB/s (%.2fx %s)", rate / 1e9, rate / limit, name);
    }

    static String mib(double bytes) {
        if (Double.isNaN(bytes)) {
            return "-";
        }
        return bytes < 10 * 1048576.0 ? String.format(Locale.ROOT, "%.2f MiB", bytes / 1048576.0)
                : String.format(Locale.ROOT, "%.0f MiB", bytes / 1048576.0);
    }

    static String ms(double ms) {
        return Double.isNaN(ms) ? "-" : String.format(Locale.ROOT, ms < 10 ? "%.1f ms" : "%.0f ms", ms);
    }

    static String sec(double s) {
        return Double.isNaN(s) ? "-" : String.format(Locale.ROOT, "%.2f s", s);
    }
}
