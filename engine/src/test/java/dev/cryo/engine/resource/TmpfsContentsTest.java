package dev.cryo.engine.resource;

import dev.cryo.engine.testing.Privileges;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A tmpfs archive is one GNU tar extracts as it was (what CRIU's restore runs on tmpfs-dev-N.tar.gz.img), and Cryo's
 * restore extracts GNU tar's archives (CRIU's images) and its own the same way: files, directories, links, device
 * nodes and FIFOs with their modes, owners and times.
 */
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

    private static java.util.Map<String, String> describe(Path top) throws Exception {
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        try (var walk = Files.walk(top)) {
            for (Path p : walk.toList()) {
                var a = Files.readAttributes(p, "unix:mode,uid,gid,rdev,size,lastModifiedTime",
                        java.nio.file.LinkOption.NOFOLLOW_LINKS);
                boolean link = Files.isSymbolicLink(p);
                out.put(top.relativize(p).toString(), Integer.toOctalString((Integer) a.get("mode")) + " " + a.get("uid")
                        + ":" + a.get("gid") + " rdev " + a.get("rdev") + (Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)
                        ? " " + Files.readString(p) : "") + (link ? " -> " + Files.readSymbolicLink(p) : "")
                        + (Files.isDirectory(p) && !link && !p.equals(top) || link ? ""
                        : " t " + ((java.nio.file.attribute.FileTime) a.get("lastModifiedTime")).toMillis() / 1000));
            }
        }
        return out;
    }

    /** A tree with what a container's /dev holds: device nodes, a FIFO, links, odd modes and owners. */
    private Path devLikeTree() throws Exception {
        Privileges.assumeRootWithPtrace(); // mknod and chown
        Path top = Files.createDirectories(tmp.resolve("dev"));
        Files.createDirectories(top.resolve("pts"));
        Files.createDirectories(top.resolve("shm"));
        Files.writeString(top.resolve("shm/data"), "shared bytes");
        Files.createSymbolicLink(top.resolve("ptmx"), Path.of("pts/ptmx"));
        Files.createLink(top.resolve("shm/again"), top.resolve("shm/data"));
        for (String[] n : List.of(new String[]{"null", "c", "1", "3"}, new String[]{"zero", "c", "1", "5"},
                new String[]{"loop9", "b", "7", "9"}, new String[]{"fifo", "p", "", ""})) {
            List<String> cmd = new java.util.ArrayList<>(List.of("mknod", "-m", "666", top.resolve(n[0]).toString(), n[1]));
            if (!n[2].isEmpty()) {
                cmd.addAll(List.of(n[2], n[3]));
            }
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, new String(p.getInputStream().readAllBytes()));
        }
        Process p = new ProcessBuilder("chown", "-h", "123:456", top.resolve("shm/data").toString(),
                top.resolve("ptmx").toString()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0);
        Files.setPosixFilePermissions(top.resolve("shm/data"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-r-----"));
        p = new ProcessBuilder("chmod", "1777", top.resolve("shm").toString()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0);
        return top;
    }

    @Test
    void restoreExtractsItsOwnArchiveAsItWas() throws Exception {
        Path top = devLikeTree();
        Files.write(tmp.resolve("a.tar.gz"), TmpfsContents.archive(top));
        Path out = Files.createDirectories(tmp.resolve("out"));
        TmpfsContents.restore(tmp.resolve("a.tar.gz"), out);
        var want = describe(top);
        want.remove(""); // the top's own mode and time: the directory extracted into keeps its own here
        var got = describe(out);
        got.remove("");
        assertEquals(want, got);
    }

    @Test
    void restoreExtractsGnuTarsArchiveAsCriuWritesIt() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/tar")) || Files.isExecutable(Path.of("/bin/tar")),
                "tar is not installed");
        Path top = devLikeTree();
        // CRIU's own command for a tmpfs archive: tar --create --gzip --no-unquote --no-wildcards --one-file-system
        // --check-links --preserve-permissions --sparse --numeric-owner --directory DIR .
        Process p = new ProcessBuilder("tar", "--create", "--gzip", "--no-unquote", "--no-wildcards", "--one-file-system",
                "--check-links", "--preserve-permissions", "--sparse", "--numeric-owner", "--directory", top.toString(),
                "-f", tmp.resolve("gnu.tar.gz").toString(), ".").redirectErrorStream(true).start();
        String msg = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), msg);
        Path out = Files.createDirectories(tmp.resolve("out"));
        TmpfsContents.restore(tmp.resolve("gnu.tar.gz"), out);
        var want = describe(top);
        var got = describe(out);
        assertEquals(want, got);
    }

    @Test
    void aNameLeavingTheDirectoryIsRefused() throws Exception {
        Path top = Files.createDirectories(tmp.resolve("evil"));
        Files.writeString(top.resolve("f"), "x");
        byte[] archive = TmpfsContents.archive(top);
        // the entry "./f" renamed "../f" in the gzip'd stream: rebuild it by hand
        var raw = new java.io.ByteArrayOutputStream();
        try (var in = new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(archive))) {
            in.transferTo(raw);
        }
        byte[] tar = raw.toByteArray();
        int at = new String(tar, java.nio.charset.StandardCharsets.ISO_8859_1).indexOf("./f");
        tar[at] = '.';
        System.arraycopy("../f".getBytes(), 0, tar, at, 4);
        java.util.Arrays.fill(tar, at + 512 - at % 512 - 512 + 148, at - at % 512 + 156, (byte) ' ');
        long sum = 0;
        for (int i = at - at % 512; i < at - at % 512 + 512; i++) {
            sum += tar[i] & 0xff;
        }
        byte[] chk = String.format("%06o\0 ", sum).getBytes();
        System.arraycopy(chk, 0, tar, at - at % 512 + 148, 8);
        var gz = new java.io.ByteArrayOutputStream();
        try (var out = new java.util.zip.GZIPOutputStream(gz)) {
            out.write(tar);
        }
        Files.write(tmp.resolve("evil.tar.gz"), gz.toByteArray());
        Path out = Files.createDirectories(tmp.resolve("inside/out"));
        var e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                () -> TmpfsContents.restore(tmp.resolve("evil.tar.gz"), out));
        assertTrue(e.getMessage().contains("leaves the directory"), e.getMessage());
        assertTrue(!Files.exists(tmp.resolve("inside/f")));
    }
}
