package dev.cryo.bench.macro;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The run as JSON, every repetition included, so two runs can be compared field by field. Times in
 * microseconds or nanoseconds as named, sizes in bytes, rates in bytes per second; NaN becomes null.
 */
public final class JsonReport {
    public static final int SCHEMA = 1;

    private JsonReport() {
    }

    public static String render(BenchRun run) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("schema", SCHEMA);
        root.put("started", run.started().toString());
        root.put("seconds", run.seconds());
        root.put("revision", run.revision());
        root.put("quick", run.plan().quick());
        root.put("repetitions", run.plan().reps());
        BenchRun.Host h = run.host();
        root.put("host", map("kernel", h.kernel(), "cpus", h.cpus(), "memory_bytes", h.memoryBytes(), "java", h.jvm(),
                "load_average_start", h.loadAtStart(), "load_average_end", h.loadAtEnd()));
        root.put("tools", new LinkedHashMap<>(run.toolVersions()));
        root.put("tools_not_run", run.plan().absentTools());
        Map<String, Object> limits = new LinkedHashMap<>();
        limits.put("process_vm_readv_bytes_per_sec", run.vmCopy().readvBytesPerSec());
        limits.put("process_vm_writev_bytes_per_sec", run.vmCopy().writevBytesPerSec());
        limits.put("process_vm_method", run.vmCopy().method());
        Map<String, Object> dirs = new LinkedHashMap<>();
        run.dirs().forEach((kind, d) -> dirs.put(kind.label, map("note", d.note(), "fs_type", d.write().fsType(),
                "dd_write_bytes_per_sec", d.write().bytesPerSec(), "dd_command", d.write().command())));
        limits.put("dirs", dirs);
        root.put("limits", limits);
        List<Object> rows = new ArrayList<>();
        for (Row row : run.rows()) {
            Figures f = Figures.of(row, run);
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("tool", row.tool());
            r.put("workload", row.workload().name());
            r.put("fixture_args", row.workload().args());
            r.put("dir", row.dir().label);
            r.put("passed", row.passed());
            r.put("problem", row.problem());
            r.put("median", map("memory_bytes", row.memoryBytes(), "frozen_us", row.frozenUs(),
                    "memdump_us", row.memdumpUs(), "memwrite_us", row.memwriteUs(),
                    "pages_written_bytes", row.pagesWrittenBytes(), "dump_wall_ns", row.dumpWallNanos(),
                    "restore_wall_ns", row.restoreWallNanos(), "restore_time_us", row.restoreTimeUs(),
                    "image_bytes", row.imageBytes()));
            r.put("rates", map("frozen_bytes_per_sec", f.dumpRate(), "frozen_vs_serial_bound", f.dumpRate() / f.dumpBound(),
                    "memdump_bytes_per_sec", f.memdumpRate(), "memdump_vs_readv", f.memdumpRate() / f.readv(),
                    "memwrite_bytes_per_sec", f.memwriteRate(), "memwrite_vs_dd", f.memwriteRate() / f.ddWrite(),
                    "restore_bytes_per_sec", f.restoreRate(), "restore_vs_writev", f.restoreRate() / f.writev()));
            List<Object> reps = new ArrayList<>();
            for (Measurement m : row.reps()) {
                Map<String, Object> x = new LinkedHashMap<>();
                x.put("memory_bytes", m.memoryBytes());
                x.put("dump_wall_ns", m.dumpWallNanos());
                x.put("dump_error", m.dumpError());
                if (m.stats() != null) {
                    Measurement.DumpStats d = m.stats();
                    x.put("stats_dump", map("freezing_time_us", d.freezingUs(), "frozen_time_us", d.frozenUs(),
                            "memdump_time_us", d.memdumpUs(), "memwrite_time_us", d.memwriteUs(),
                            "pages_scanned", d.pagesScanned(), "pages_written", d.pagesWritten()));
                } else {
                    x.put("stats_dump", null);
                }
                x.put("image_bytes", m.imageBytes());
                x.put("pages_image_bytes", m.pagesBytes());
                x.put("restore_wall_ns", m.restoreWallNanos());
                x.put("restore_error", m.restoreError());
                x.put("restore_time_us", m.restoreTimeUs() < 0 ? null : m.restoreTimeUs());
                x.put("verdict", m.verdict());
                reps.add(x);
            }
            r.put("reps", reps);
            rows.add(r);
        }
        root.put("rows", rows);
        StringBuilder s = new StringBuilder();
        write(s, root, "");
        return s.append('\n').toString();
    }

    private static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private static void write(StringBuilder s, Object v, String indent) {
        if (v == null) {
            s.append("null");
        } else if (v instanceof String str) {
            quote(s, str);
        } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
            s.append(v);
        } else if (v instanceof Double d) {
            if (d.isNaN() || d.isInfinite()) {
                s.append("null");
            } else if (d == Math.rint(d) && Math.abs(d) < 1e15) {
                s.append((long) (double) d);
            } else {
                s.append(String.format(Locale.ROOT, "%.6g", d));
            }
        } else if (v instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                s.append("{}");
                return;
            }
            s.append("{\n");
            String inner = indent + "  ";
            int i = 0;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                s.append(inner);
                quote(s, e.getKey().toString());
                s.append(": ");
                write(s, e.getValue(), inner);
                s.append(++i < m.size() ? ",\n" : "\n");
            }
            s.append(indent).append('}');
        } else if (v instanceof List<?> l) {
            if (l.isEmpty()) {
                s.append("[]");
                return;
            }
            s.append("[\n");
            String inner = indent + "  ";
            for (int i = 0; i < l.size(); i++) {
                s.append(inner);
                write(s, l.get(i), inner);
                s.append(i + 1 < l.size() ? ",\n" : "\n");
            }
            s.append(indent).append(']');
        } else {
            quote(s, v.toString());
        }
    }

    private static void quote(StringBuilder s, String str) {
        s.append('"');
        for (int i = 0; i < str.length(); i++) {
            char c = str.charAt(i);
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                default -> {
                    if (c < 0x20) {
                        s.append(String.format("\\u%04x", (int) c));
                    } else {
                        s.append(c);
                    }
                }
            }
        }
        s.append('"');
    }
}
