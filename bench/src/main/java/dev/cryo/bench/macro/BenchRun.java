package dev.cryo.bench.macro;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * Everything one harness run measured: the machine's limits, the directories, and one row per tool, workload and
 * directory kind.
 *
 * @param revision     the repository's commit, "+dirty" when engine/ or image-format/ had uncommitted changes
 * @param toolVersions tool name to what its {@code --version} said
 * @param dirs         per directory kind: where it was and how fast dd wrote to it
 */
public record BenchRun(BenchPlan plan, Instant started, double seconds, Host host, String revision, MachineLimits.VmCopy vmCopy,
                       Map<TargetDir.Kind, Dir> dirs, Map<String, String> toolVersions, List<Row> rows) {

    /** One images directory kind as measured. */
    public record Dir(String note, MachineLimits.DirWrite write) {
    }

    /**
     * The machine, for telling runs apart. The load averages (1 minute, from /proc/loadavg) say how much else
     * ran: on a shared machine they explain most of the spread between runs.
     */
    public record Host(String kernel, int cpus, long memoryBytes, String jvm, double loadAtStart, double loadAtEnd) {
        public static Host current(double loadAtStart) {
            String kernel = System.getProperty("os.name") + " " + System.getProperty("os.version");
            long mem = 0;
            try {
                for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                    if (line.startsWith("MemTotal:")) {
                        mem = Long.parseLong(line.substring(9).replace("kB", "").strip()) * 1024;
                    }
                }
            } catch (IOException e) {
                mem = -1;
            }
            return new Host(kernel, Runtime.getRuntime().availableProcessors(), mem,
                    System.getProperty("java.vm.name") + " " + System.getProperty("java.version"), loadAtStart, loadAverage());
        }

        /** The 1-minute load average, or NaN where /proc/loadavg cannot be read. */
        public static double loadAverage() {
            try {
                return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
            } catch (IOException | RuntimeException e) {
                return Double.NaN;
            }
        }
    }

    public boolean allPassed() {
        return rows.stream().allMatch(Row::passed);
    }
}
