package dev.cryo.bench.macro;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A directory images are written to: a private tmpfs mounted for the run (memory speed, no device), or a
 * directory under bench/target (the disk the repository lives on). Closing it removes what the run left and
 * unmounts the tmpfs.
 */
public final class TargetDir implements AutoCloseable {
    public enum Kind {
        TMPFS("tmpfs"), DISK("disk");

        public final String label;

        Kind(String label) {
            this.label = label;
        }
    }

    private final Kind kind;
    private final Path path;
    private final boolean mounted;
    private final String note;

    private TargetDir(Kind kind, Path path, boolean mounted, String note) {
        this.kind = kind;
        this.path = path;
        this.mounted = mounted;
        this.note = note;
    }

    /**
     * Mounts a private tmpfs of {@code bytes} at /tmp/cryo-bench-PID-tmpfs; where mounting is not allowed, falls
     * back to a directory in /dev/shm (also tmpfs, but shared) and says so in {@link #note()}.
     */
    public static TargetDir tmpfs(long bytes) throws IOException {
        Path mountPoint = Path.of("/tmp", "cryo-bench-" + ProcessHandle.current().pid() + "-tmpfs");
        Files.createDirectories(mountPoint);
        long mib = (bytes >> 20) + 1;
        ProcessResult r = ProcessResult.run(java.util.List.of("mount", "-t", "tmpfs", "-o",
                "size=" + mib + "m,mode=0700", "cryo-bench", mountPoint.toString()), 30);
        if (r.exitCode() == 0 && fsType(mountPoint).equals("tmpfs")) {
            return new TargetDir(Kind.TMPFS, mountPoint, true, "private tmpfs of " + mib + " MiB mounted at " + mountPoint);
        }
        Files.deleteIfExists(mountPoint);
        Path shm = Path.of("/dev/shm", "cryo-bench-" + ProcessHandle.current().pid());
        Files.createDirectories(shm);
        if (!fsType(shm).equals("tmpfs")) {
            throw new IOException("cannot mount a tmpfs (" + r.lastLine() + ") and /dev/shm is " + fsType(shm) + ", not tmpfs");
        }
        return new TargetDir(Kind.TMPFS, shm, false, "/dev/shm (shared tmpfs): mounting a private one failed: " + r.lastLine());
    }

    /** bench/target/bench-images on whatever filesystem the repository lives on. */
    public static TargetDir disk(Path benchTarget) throws IOException {
        Path dir = benchTarget.resolve("bench-images");
        deleteTree(dir);
        Files.createDirectories(dir);
        return new TargetDir(Kind.DISK, dir, false, fsType(dir) + " at " + dir.toAbsolutePath().normalize());
    }

    public Kind kind() {
        return kind;
    }

    public Path path() {
        return path;
    }

    public String note() {
        return note;
    }

    public String fsType() throws IOException {
        return fsType(path);
    }

    static String fsType(Path p) throws IOException {
        return Files.getFileStore(p).type();
    }

    /** A fresh, empty directory for one dump. */
    public Path freshDir(String name) throws IOException {
        Path dir = path.resolve(name);
        deleteTree(dir);
        Files.createDirectories(dir);
        return dir;
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Override
    public void close() throws IOException {
        if (!mounted) {
            deleteTree(path);
            return;
        }
        try (Stream<Path> children = Files.list(path)) {
            for (Path p : (Iterable<Path>) children::iterator) {
                deleteTree(p);
            }
        } finally {
            ProcessResult r = ProcessResult.run(java.util.List.of("umount", path.toString()), 30);
            if (r.exitCode() != 0) {
                throw new IOException("cannot unmount the bench tmpfs at " + path + ": " + r.lastLine());
            }
            Files.deleteIfExists(path);
        }
    }
}
