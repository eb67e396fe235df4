package dev.cryo.image;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Debian's crit (CRIU 3.17) as a subprocess; tests using it skip with a printed reason when it is missing. */
final class Crit {
    private static Boolean available;

    private Crit() {
    }

    static void assumeInstalled() {
        if (available == null) {
            try {
                Process p = new ProcessBuilder("crit", "--help").redirectErrorStream(true).start();
                p.getInputStream().readAllBytes();
                available = p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
            } catch (IOException e) {
                available = false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                available = false;
            }
            if (!available) {
                System.out.println("SKIPPED: crit is not installed (apt-get install criu provides /usr/bin/crit)");
            }
        }
        Assumptions.assumeTrue(available, "crit is not installed");
    }

    /** {@code crit decode -i FILE --pretty}. */
    static String decode(Path image) throws IOException {
        return new String(run(List.of("crit", "decode", "-i", image.toString(), "--pretty")), StandardCharsets.UTF_8);
    }

    /** {@code crit decode -i FILE} (one line, plain numbers). */
    static String decodeCompact(Path image) throws IOException {
        return new String(run(List.of("crit", "decode", "-i", image.toString())), StandardCharsets.UTF_8);
    }

    /** {@code crit encode -i JSON -o IMG}; returns the image bytes. */
    static byte[] encode(Path json, Path out) throws IOException {
        run(List.of("crit", "encode", "-i", json.toString(), "-o", out.toString()));
        return Files.readAllBytes(out);
    }

    private static byte[] run(List<String> cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.PIPE).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        try {
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " did not finish within 120 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed (exit " + p.exitValue() + "): "
                    + new String(err, StandardCharsets.UTF_8));
        }
        return out;
    }
}
