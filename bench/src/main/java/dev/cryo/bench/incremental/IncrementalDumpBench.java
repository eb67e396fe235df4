package dev.cryo.bench.incremental;

import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.dump_stats_entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Issue 5's benchmark: a process with {@code MIB} MiB of private memory (default 1024). In one run, side by side:
 * a full {@code dump -R}; then {@code pre-dump}, 1% of the pages written, and the final
 * {@code dump --prev-images-dir}. Prints the frozen time (stats-dump) and the bytes written (pages image) of
 * the full and the final dump. Run as root from the repository (after {@code mvn -q -B install -DskipTests}):
 * <pre>
 * mvn -q -B -o -pl bench dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
 * java -cp bench/target/classes:$(cat /tmp/cp.txt) dev.cryo.bench.incremental.IncrementalDumpBench [MIB] [ROUNDS]
 * </pre>
 * Each measured dump starts after {@code sync}, so page-cache writeback of the earlier gigabyte does not land
 * in its frozen time.
 */
public final class IncrementalDumpBench {
    static final String SOURCE = """
            #include <signal.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/mman.h>
            #include <unistd.h>
            static volatile sig_atomic_t go;
            static void on_usr1(int s) { (void)s; go = 1; }
            int main(int argc, char **argv) {
                long pages = atol(argv[1]) * 256;
                unsigned char *a = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                for (long i = 0; i < pages; i++) memset(a + i * 4096, (int)(i * 131 + 7), 4096);
                signal(SIGUSR1, on_usr1);
                printf("ready\\n"); fflush(stdout);
                unsigned long long s = 88172645463325252ULL; long round = 0;
                for (;;) {
                    pause();
                    if (!go) continue;
                    go = 0; round++;
                    for (long n = 0; n < pages / 100; n++) { /* 1% of the pages, each written once or more */
                        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                        a[(s % pages) * 4096 + (n % 4096)] += (unsigned char)round;
                    }
                    printf("wrote %ld\\n", round); fflush(stdout);
                }
            }
            """;

    record Result(String what, long frozenUs, long pagesWritten, long bytes, long skippedParent) {
        @Override
        public String toString() {
            return String.format("| %-38s | %10.1f | %12d | %14d | %12d |", what, frozenUs / 1000.0, pagesWritten, bytes,
                    skippedParent);
        }
    }

    public static void main(String[] args) throws Exception {
        int mib = args.length > 0 ? Integer.parseInt(args[0]) : 1024;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        Path repo = findRepo();
        Path work = Files.createTempDirectory("cryo-bench-incremental");
        Path exe = work.resolve("big");
        Files.writeString(work.resolve("big.c"), SOURCE);
        run(List.of("gcc", "-O2", "-o", exe.toString(), work.resolve("big.c").toString()), Duration.ofMinutes(1));
        List<Result> results = new ArrayList<>();
        for (int r = 1; r <= rounds; r++) {
            Path dir = work.resolve("round-" + r);
            Files.createDirectories(dir);
            Path out = dir.resolve("out");
            int pid = start(exe, out, mib);
            try {
                awaitLine(out, "ready", Duration.ofMinutes(2));
                results.add(dump(repo, "full dump -R (" + mib + " MiB)", pid, dir.resolve("full"), null, "dump", "-R"));
                results.add(dump(repo, "pre-dump", pid, dir.resolve("pre"), null, "pre-dump"));
                run(List.of("kill", "-USR1", Integer.toString(pid)), Duration.ofSeconds(5));
                awaitLine(out, "wrote 1", Duration.ofMinutes(1));
                results.add(dump(repo, "final dump --prev-images-dir (1% written)", pid, dir.resolve("final"),
                        "../pre", "dump"));
            } finally {
                run(List.of("kill", "-9", Integer.toString(pid)), Duration.ofSeconds(5));
            }
            deleteTree(dir); // a GiB per round
        }
        System.out.println("| dump                                   | frozen ms  | pages written | bytes written  | in parent    |");
        System.out.println("|----------------------------------------|------------|---------------|----------------|--------------|");
        results.forEach(System.out::println);
    }

    static Result dump(Path repo, String what, int pid, Path dir, String prev, String... command) throws Exception {
        Files.createDirectories(dir);
        run(List.of("sync"), Duration.ofMinutes(2));
        List<String> argv = new ArrayList<>(List.of(repo.resolve("bin/cryo").toString()));
        argv.addAll(List.of(command));
        argv.addAll(List.of("-t", Integer.toString(pid), "-D", dir.toString(), "-o", "log", "-v4"));
        if (prev != null) {
            argv.addAll(List.of("--prev-images-dir", prev));
        }
        run(argv, Duration.ofMinutes(5));
        dump_stats_entry s = ImageDir.open(dir).dumpStats().getDump();
        long bytes = Files.size(dir.resolve("pages-1.img"));
        return new Result(what, s.getFrozenTime(), s.getPagesWritten(), bytes, s.getPagesSkippedParent());
    }

    /** Started through a shell that exits at once: the fixture is nobody's child here, and has only fds 0-2. */
    static int start(Path exe, Path out, int mib) throws Exception {
        Process sh = new ProcessBuilder("sh", "-c", "setsid '" + exe + "' " + mib + " </dev/null >'" + out
                + "' 2>&1 & echo $!").redirectErrorStream(true).start();
        String pid = new String(sh.getInputStream().readAllBytes()).strip();
        sh.waitFor(10, TimeUnit.SECONDS);
        return Integer.parseInt(pid);
    }

    static void awaitLine(Path out, String line, Duration bound) throws Exception {
        long deadline = System.nanoTime() + bound.toNanos();
        while (!(Files.exists(out) && Files.readAllLines(out).contains(line))) {
            if (System.nanoTime() > deadline) {
                throw new IOException("the fixture did not print '" + line + "' within " + bound);
            }
            Thread.sleep(20); // polling a file written by another process; no event to wait on
        }
    }

    static void run(List<String> argv, Duration bound) throws Exception {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", argv) + " failed: " + output.strip());
        }
    }

    static void deleteTree(Path dir) throws IOException {
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    static Path findRepo() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.exists(d.resolve("bin/cryo")) && Files.isDirectory(d.resolve("engine"))) {
                return d;
            }
        }
        throw new IllegalStateException("run from inside the repository");
    }
}
