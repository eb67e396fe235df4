package dev.cryo.engine.testing;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.dump.Dumper;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.restore.Restorer;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.stats_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Drives the engine in-process the way the CLI would, with -v4 logs next to the images. */
public final class Checkpoint {
    private Checkpoint() {
    }

    public static DumpOptions dumpOptions(int pid, Path dir, boolean leaveRunning) {
        return new DumpOptions(pid, dir, false, leaveRunning, true, true, false, false, null, null, null);
    }

    public static RestoreOptions restoreOptions(Path dir) {
        return new RestoreOptions(dir, true, true, true, null, null);
    }

    public static void dump(int pid, Path dir, boolean leaveRunning) throws CryoException, IOException {
        dump(dumpOptions(pid, dir, leaveRunning));
    }

    /**
     * The round trip of a program that prints one line when ready and waits for a file {@code go} beside its output
     * before it checks itself: dumps it into {@code img} there (the dump ends it), waits until it is gone, restores
     * it (which must succeed) and creates {@code go}.
     */
    public static void dumpRestoreGo(Target t) throws CryoException, IOException {
        Path dir = t.out().getParent();
        dumpUntilGone(t, 1, dir.resolve("img"));
        if (restore(dir.resolve("img")) != 0) {
            throw new AssertionError("the restore of pid " + t.pid() + " did not succeed");
        }
        Files.createFile(dir.resolve("go"));
    }

    /**
     * {@code source} compiled in {@code dir} as {@code name}, started, and round tripped by {@link #dumpRestoreGo}; its
     * output once it printed {@code lines} lines (the program ends by itself after its report).
     */
    public static java.util.List<String> goAfterRestore(Path dir, String name, String source, int lines)
            throws Exception {
        Path exe = CProgram.compile(dir, name, source);
        try (Target t = Target.start(exe, dir.resolve("out.txt"))) {
            dumpRestoreGo(t);
            t.awaitLines(lines);
            return t.lines();
        }
    }

    /** Dumps {@code t} once it printed {@code lines} lines, and waits until the dump's kill took it. */
    public static Path dumpUntilGone(Target t, int lines, Path dir) throws CryoException, IOException {
        t.awaitLines(lines);
        dump(t.pid(), dir, false);
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5)).until(() -> !t.alive());
        return dir;
    }

    public static void dump(DumpOptions options) throws CryoException, IOException {
        Files.createDirectories(options.imagesDir());
        Path logFile = options.imagesDir().resolve("dump.log");
        try (Log log = Log.toFile(logFile, 4)) {
            Dumper.dump(options, log);
        } catch (CryoException | RuntimeException e) {
            System.out.println("---- " + logFile + "\n" + Files.readString(logFile));
            throw e;
        }
        if (System.getenv("CRYO_SHOW_LOGS") != null) {
            System.out.println(Files.readString(logFile));
        }
        requireEveryImageInTheManifest(options.imagesDir());
        stats_entry s = ImageDir.open(options.imagesDir()).dumpStats();
        System.out.printf("dump of pid %d: freezing %d us, frozen %d us, memdump %d us, memwrite %d us, %d pages%n",
                options.pid(), s.getDump().getFreezingTime(), s.getDump().getFrozenTime(),
                s.getDump().getMemdumpTime(), s.getDump().getMemwriteTime(), s.getDump().getPagesWritten());
    }

    /**
     * Every image a dump wrote is in its checksums' manifest (a file left out would be restored unchecked, and left
     * behind by a failed dump): checked after each dump the tests make.
     */
    public static void requireEveryImageInTheManifest(Path dir) throws IOException {
        Path manifest = dir.resolve(dev.cryo.image.ImageChecksums.FILE);
        if (!Files.exists(manifest)) {
            return;
        }
        java.util.Set<String> listed = dev.cryo.image.ImageChecksums.parse(Files.readAllBytes(manifest)).keySet();
        try (var files = Files.list(dir)) {
            java.util.List<String> missing = files.map(f -> f.getFileName().toString())
                    .filter(n -> n.endsWith(".img") || n.equals("stats-dump")).filter(n -> !listed.contains(n))
                    .sorted().toList();
            if (!missing.isEmpty()) {
                throw new AssertionError("images not in the manifest of " + dir + ": " + missing);
            }
        }
    }

    public static int restore(Path dir) throws CryoException, IOException {
        return restore(restoreOptions(dir));
    }

    public static int restore(RestoreOptions options) throws CryoException, IOException {
        Path logFile = options.imagesDir().resolve("restore.log");
        long t0 = System.nanoTime();
        int r;
        try (Log log = Files.isDirectory(options.imagesDir()) ? Log.toFile(logFile, 4) : Log.discard()) {
            r = Restorer.restore(options, log);
        } catch (CryoException | RuntimeException e) {
            if (Files.exists(logFile)) {
                System.out.println("---- " + logFile + "\n" + Files.readString(logFile));
            }
            throw e;
        }
        if (System.getenv("CRYO_SHOW_LOGS") != null && Files.exists(logFile)) {
            System.out.println(Files.readString(logFile));
        }
        if (options.detached()) {
            stats_entry s = ImageDir.open(options.imagesDir()).restoreStats();
            System.out.printf("restore: %d us (fork %d us), %d pages (%d of %d compared still shared), call took %d us%n",
                    s.getRestore().getRestoreTime(), s.getRestore().getForkingTime(), s.getRestore().getPagesRestored(),
                    s.getRestore().getPagesSkippedCow(), s.getRestore().getPagesCompared(), (System.nanoTime() - t0) / 1000);
        }
        return r;
    }
}
