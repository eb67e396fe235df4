package dev.cryo.bench.macro;

import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.dump_stats_entry;
import dev.cryo.image.proto.stats_entry;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * The macro benchmark: for every directory kind, workload and repetition, each tool in turn dumps a freshly
 * started fixture, the harness waits for the pid to be free, the tool restores it, and the restored fixture
 * checks itself. Tools take turns within a repetition so drift on a shared machine hits them alike.
 */
public final class Harness {
    static final Duration READY_BOUND = Duration.ofSeconds(120);
    static final Duration EXIT_BOUND = Duration.ofSeconds(10);
    static final Duration VERDICT_BOUND = Duration.ofSeconds(180);

    private final BenchPlan plan;
    private final PrintStream progress;
    /** Fixture pids (original or restored) a measurement has not cleaned up yet. */
    private final Set<Integer> inFlight = ConcurrentHashMap.newKeySet();

    public Harness(BenchPlan plan, PrintStream progress) {
        this.plan = plan;
        this.progress = progress;
    }

    public BenchRun run() throws IOException, SyscallException {
        Instant started = Instant.now();
        long t0 = System.nanoTime();
        ChildReaper.becomeSubreaper();
        double loadAtStart = BenchRun.Host.loadAverage();
        Files.createDirectories(plan.resultsDir());
        Map<String, String> versions = new LinkedHashMap<>();
        for (CheckpointTool tool : plan.tools()) {
            versions.put(tool.name(), tool.version());
        }
        progress.printf("[bench] machine limits: process_vm_readv/writev over %d MiB...%n", plan.probeMiB());
        MachineLimits.VmCopy vm = MachineLimits.vmCopy(plan.probeMiB());
        progress.printf("[bench]   process_vm_readv %.2f GB/s, process_vm_writev %.2f GB/s%n",
                vm.readvBytesPerSec() / 1e9, vm.writevBytesPerSec() / 1e9);
        Map<TargetDir.Kind, BenchRun.Dir> dirInfo = new EnumMap<>(TargetDir.Kind.class);
        List<Row> rows = new ArrayList<>();
        List<TargetDir> opened = Collections.synchronizedList(new ArrayList<>());
        // Ctrl-C must leave neither a fixture running nor the private tmpfs mounted
        Thread unmount = new Thread(() -> {
            inFlight.forEach(pid -> Syscall.raw(Syscall.KILL, pid, 9));
            closeAll(opened);
        }, "cryo-bench-cleanup");
        Runtime.getRuntime().addShutdownHook(unmount);
        try {
            for (TargetDir.Kind kind : plan.dirs()) {
                TargetDir dir = open(kind);
                opened.add(dir);
                progress.printf("[bench] %s: %s; dd write over %d MiB...%n", kind.label, dir.note(), plan.probeMiB());
                MachineLimits.DirWrite dd = MachineLimits.ddWrite(dir, plan.probeMiB());
                progress.printf("[bench]   dd %.2f GB/s (%s)%n", dd.bytesPerSec() / 1e9, dd.command());
                dirInfo.put(kind, new BenchRun.Dir(dir.note(), dd));
            }
            warmUp(opened.get(0));
            for (TargetDir dir : opened) {
                for (Workload w : plan.workloads()) {
                    Map<String, List<Measurement>> reps = new LinkedHashMap<>();
                    plan.tools().forEach(t -> reps.put(t.name(), new ArrayList<>()));
                    for (int rep = 1; rep <= plan.reps(); rep++) {
                        for (CheckpointTool tool : plan.tools()) {
                            List<Measurement> done = reps.get(tool.name());
                            if (!done.isEmpty() && done.get(done.size() - 1).problem() != null) {
                                continue; // it failed once; the next try would fail the same way and cost as much
                            }
                            Measurement m = measure(tool, w, dir, rep);
                            done.add(m);
                            report(tool, w, dir, rep, m);
                        }
                    }
                    for (CheckpointTool tool : plan.tools()) {
                        rows.add(new Row(tool.name(), w, dir.kind(), reps.get(tool.name())));
                    }
                }
            }
            // the limits again at the end: a figure is compared with the best the machine showed in this run
            progress.println("[bench] machine limits again, at the end of the run...");
            vm = vm.best(MachineLimits.vmCopy(plan.probeMiB()));
            for (TargetDir dir : List.copyOf(opened)) {
                BenchRun.Dir d = dirInfo.get(dir.kind());
                dirInfo.put(dir.kind(), new BenchRun.Dir(d.note(), d.write().best(MachineLimits.ddWrite(dir, plan.probeMiB()))));
            }
            progress.printf("[bench]   best: process_vm_readv %.2f GB/s, process_vm_writev %.2f GB/s%s%n",
                    vm.readvBytesPerSec() / 1e9, vm.writevBytesPerSec() / 1e9, dirRates(dirInfo));
        } finally {
            closeAll(opened);
            Runtime.getRuntime().removeShutdownHook(unmount);
        }
        return new BenchRun(plan, started, (System.nanoTime() - t0) / 1e9, BenchRun.Host.current(loadAtStart),
                revision(), vm, dirInfo, versions, rows);
    }

    /** Which code was measured: the commit, and whether the engine or image format had local changes. */
    private String revision() {
        try {
            ProcessResult head = ProcessResult.run(List.of("git", "-C", plan.root().toString(), "rev-parse", "--short", "HEAD"), 30);
            if (head.exitCode() != 0) {
                return "unknown (not a git checkout)";
            }
            ProcessResult dirty = ProcessResult.run(List.of("git", "-C", plan.root().toString(), "status", "--porcelain",
                    "--", "engine", "image-format", "bin"), 30);
            return head.lastLine() + (dirty.exitCode() == 0 && !dirty.output().isBlank() ? "+dirty" : "");
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    private static String dirRates(Map<TargetDir.Kind, BenchRun.Dir> dirs) {
        StringBuilder s = new StringBuilder();
        dirs.forEach((k, d) -> s.append(String.format(", %s dd %.2f GB/s", k.label, d.write().bytesPerSec() / 1e9)));
        return s.toString();
    }

    private synchronized void closeAll(List<TargetDir> dirs) {
        for (TargetDir dir : dirs) {
            try {
                dir.close();
            } catch (IOException e) {
                progress.println("[bench] warning: " + e.getMessage());
            }
        }
        dirs.clear();
    }

    private TargetDir open(TargetDir.Kind kind) throws IOException {
        if (kind == TargetDir.Kind.TMPFS) {
            // one image at a time is kept, plus the dd probe file
            return TargetDir.tmpfs(plan.largestWorkloadBytes() * 2 + ((long) plan.probeMiB() << 20) + (256L << 20));
        }
        return TargetDir.disk(plan.targetDir());
    }

    /** One untimed round per tool: the first start of a JVM-based tool writes its class-data archive. */
    private void warmUp(TargetDir dir) throws IOException {
        for (CheckpointTool tool : plan.tools()) {
            Measurement m = measure(tool, Workload.counter(), dir, 0);
            progress.printf("[bench] warm-up %s: %s%n", tool.name(), m.problem() == null ? "ok" : m.problem());
        }
    }

    Measurement measure(CheckpointTool tool, Workload w, TargetDir dir, int rep) throws IOException {
        String name = tool.name() + "-" + w.name() + "-" + dir.kind().label + "-r" + rep;
        Path work = plan.targetDir().resolve("bench-work").resolve(name);
        TargetDir.deleteTree(work);
        Path images = dir.freshDir(name);
        FixtureProcess fx = FixtureProcess.start(w, plan.fixturesDir(), work, READY_BOUND);
        int pid = fx.pid();
        inFlight.addAll(fx.tree());
        try {
            long memory = fx.anonymousBytes();
            ProcessResult dump = tool.dump(pid, images);
            if (dump.exitCode() != 0) {
                String error = CheckpointTool.errorOf(dump, images.resolve("dump.log"));
                if (!fx.originalAlive()) {
                    error += " (and the target did not survive the failed dump)";
                }
                fx.killOriginal();
                keepLogs(name, images);
                return new Measurement(memory, dump.wallNanos(), error, null, 0, 0, 0, "not tried", -1, null);
            }
            if (!fx.awaitExit(EXIT_BOUND)) {
                fx.killOriginal();
                keepLogs(name, images);
                return new Measurement(memory, dump.wallNanos(), "dump exited 0 but pid " + pid
                        + " still ran " + EXIT_BOUND.toSeconds() + " s later", null, 0, 0, 0, "not tried", -1, null);
            }
            if (!fx.awaitTreeGone(EXIT_BOUND)) {
                fx.killOriginal();
                keepLogs(name, images);
                return new Measurement(memory, dump.wallNanos(), "dump exited 0 but a process of the tree of " + pid
                        + " still ran " + EXIT_BOUND.toSeconds() + " s later", null, 0, 0, 0, "not tried", -1, null);
            }
            Measurement.DumpStats stats = dumpStats(images);
            long imageBytes = imageBytes(images, false);
            long pagesBytes = imageBytes(images, true);
            if (!ChildReaper.awaitPidFree(pid, EXIT_BOUND)) {
                return new Measurement(memory, dump.wallNanos(), null, stats, imageBytes, pagesBytes, 0,
                        "pid " + pid + " still taken " + EXIT_BOUND.toSeconds() + " s after the dump", -1, null);
            }
            ProcessResult restore = tool.restore(images);
            if (restore.exitCode() != 0) {
                String error = CheckpointTool.errorOf(restore, images.resolve("restore.log"));
                if (ChildReaper.alive(pid)) {
                    error += " (and left pid " + pid + " running)";
                    ChildReaper.kill(pid);
                }
                keepLogs(name, images);
                return new Measurement(memory, dump.wallNanos(), null, stats, imageBytes, pagesBytes,
                        restore.wallNanos(), error, -1, null);
            }
            long restoreUs = restoreTimeUs(images);
            String verdict = ChildReaper.alive(pid) ? fx.verdictOfRestored(VERDICT_BOUND)
                    : "restore exited 0 but pid " + pid + " is not running (" + ChildReaper.reap(pid, EXIT_BOUND) + ")";
            if (!"PASS".equals(verdict)) {
                keepLogs(name, images);
            }
            return new Measurement(memory, dump.wallNanos(), null, stats, imageBytes, pagesBytes, restore.wallNanos(),
                    null, restoreUs, verdict);
        } finally {
            if (fx.originalAlive()) {
                fx.killOriginal();
            }
            for (int p : fx.tree()) { // the restored tree's, when its root did not give its verdict
                if (ChildReaper.alive(p)) {
                    ChildReaper.kill(p);
                }
            }
            TargetDir.deleteTree(images);
            Files.deleteIfExists(images.resolveSibling(name + ".dump.out"));
            Files.deleteIfExists(images.resolveSibling(name + ".restore.out"));
            inFlight.removeAll(fx.tree());
        }
    }

    private static Measurement.DumpStats dumpStats(Path images) {
        try {
            stats_entry e = ImageDir.open(images).dumpStats();
            if (!e.hasDump()) {
                return null;
            }
            dump_stats_entry d = e.getDump();
            return new Measurement.DumpStats(Integer.toUnsignedLong(d.getFreezingTime()),
                    Integer.toUnsignedLong(d.getFrozenTime()), Integer.toUnsignedLong(d.getMemdumpTime()),
                    Integer.toUnsignedLong(d.getMemwriteTime()), d.getPagesScanned(), d.getPagesWritten());
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static long restoreTimeUs(Path images) {
        try {
            stats_entry e = ImageDir.open(images).restoreStats();
            return e.hasRestore() ? Integer.toUnsignedLong(e.getRestore().getRestoreTime()) : -1;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Bytes of the images (logs excluded), or of the pages-*.img files alone. */
    static long imageBytes(Path images, boolean pagesOnly) throws IOException {
        long total = 0;
        try (Stream<Path> files = Files.list(images)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                String n = p.getFileName().toString();
                boolean pages = n.startsWith("pages-") && n.endsWith(".img");
                if (Files.isRegularFile(p) && !n.endsWith(".log") && (!pagesOnly || pages)) {
                    total += Files.size(p);
                }
            }
        }
        return total;
    }

    /** Logs of a failed run, kept in bench-results/logs/NAME for whoever reads the table. */
    private void keepLogs(String name, Path images) throws IOException {
        Path dest = plan.resultsDir().resolve("logs").resolve(name);
        Files.createDirectories(dest);
        for (String log : List.of("dump.log", "restore.log")) {
            if (Files.exists(images.resolve(log))) {
                Files.copy(images.resolve(log), dest.resolve(log), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        for (String out : List.of(".dump.out", ".restore.out")) {
            Path p = images.getParent().resolve(images.getFileName() + out);
            if (Files.exists(p)) {
                Files.copy(p, dest.resolve(out.substring(1)), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    private void report(CheckpointTool tool, Workload w, TargetDir dir, int rep, Measurement m) {
        StringBuilder s = new StringBuilder(String.format("[bench] %s %s %s rep %d/%d: ", tool.name(), w.name(),
                dir.kind().label, rep, plan.reps()));
        if (m.stats() != null) {
            s.append(String.format("frozen %.0f ms, ", m.stats().frozenUs() / 1e3));
        }
        if (m.dumped()) {
            s.append(String.format("dump %.2f s, image %.1f MiB, ", m.dumpWallNanos() / 1e9, m.imageBytes() / 1048576.0));
        }
        if (m.restored()) {
            s.append(String.format("restore %.2f s, ", m.restoreWallNanos() / 1e9));
        }
        s.append(m.problem() == null ? "PASS" : m.problem());
        progress.println(s);
    }
}
