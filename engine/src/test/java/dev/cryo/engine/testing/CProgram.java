package dev.cryo.engine.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** A tiny C program compiled with gcc into a temp dir at test time. */
public final class CProgram {
    private CProgram() {
    }

    public static Path compile(Path dir, String name, String source, String... gccFlags) throws IOException, InterruptedException {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "gcc is not installed");
        Path src = dir.resolve(name + ".c");
        Path exe = dir.resolve(name);
        Files.writeString(src, source);
        List<String> cmd = new ArrayList<>(List.of("gcc"));
        cmd.addAll(List.of(gccFlags));
        cmd.addAll(List.of("-o", exe.toString(), src.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("gcc failed for " + name + ": " + out);
        }
        return exe;
    }

    /**
     * {@code source} compiled and started in {@code dir}, once it printed its first line: the words of that line (a
     * fixture that reports where its state is, then waits).
     */
    public static Started startReporting(Path dir, String name, String source) throws IOException, InterruptedException {
        Target t = Target.start(compile(dir, name, source), dir.resolve(name + ".out"));
        t.awaitLines(1);
        return new Started(t, t.lines().get(0).split(" "));
    }

    /** A program {@link #startReporting} started, and the words of its first line. */
    public record Started(Target target, String[] report) implements AutoCloseable {
        @Override
        public void close() {
            target.close();
        }
    }

    /** The walk-through's program: counts once a second to stdout. */
    public static final String COUNTER = """
            #include <stdio.h>
            #include <unistd.h>
            int main(void) {
                setvbuf(stdout, NULL, _IONBF, 0);
                for (int i = 0;; i++) {
                    printf("%d\\n", i);
                    usleep(SLEEP_US);
                }
            }
            """;

    /** The counter, printing every {@code sleepUs} microseconds. */
    public static String counter(int sleepUs) {
        return "#define SLEEP_US " + sleepUs + "\n" + COUNTER;
    }
}
