package dev.cryo.engine.resource;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** A tmpfs archive is one GNU tar extracts as it was: what CRIU's restore runs on tmpfs-dev-N.tar.gz.img. */
class TmpfsContentsTest {
    @TempDir
    Path tmp;

    @Test
    void tarExtractsTheTreeAsItWas() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/tar")) || Files.isExecutable(Path.of("/bin/tar")),
                "tar is not installed");
        Path top = Files.createDirectories(tmp.resolve("fs"));
        Files.createDirectories(top.resolve("dir/sub"));
        Files.writeString(top.resolve("dir/file"), "x".repeat(1000));
        Files.createSymbolicLink(top.resolve("fd"), Path.of("/proc/self/fd"));
        Files.write(tmp.resolve("a.tar.gz"), TmpfsContents.archive(top));
        Path out = Files.createDirectories(tmp.resolve("out"));
        Process p = new ProcessBuilder("tar", "--extract", "--gzip", "--no-unquote", "--no-wildcards", "--directory",
                out.toString(), "-f", tmp.resolve("a.tar.gz").toString()).redirectErrorStream(true).start();
        String msg = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), msg);
        assertEquals("x".repeat(1000), Files.readString(out.resolve("dir/file")));
        assertTrue(Files.isDirectory(out.resolve("dir/sub")));
        assertEquals(Path.of("/proc/self/fd"), Files.readSymbolicLink(out.resolve("fd")));
        assertEquals(List.of("dir", "fd"), Files.list(out).map(f -> f.getFileName().toString()).sorted().toList());
    }
}
