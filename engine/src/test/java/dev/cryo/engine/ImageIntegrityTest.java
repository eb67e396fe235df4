package dev.cryo.engine;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.sys.DirectFiles;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageChecksums;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Images are private, checked and restored only whole: a dump's files are 0600 in a 0700 directory with a manifest
 * of checksums; a flipped byte in any of them, a dump that did not finish, or a second restore of the same images
 * running at once is refused before anything is built, and leaves no process.
 */
@org.junit.jupiter.api.extension.ExtendWith(dev.cryo.engine.testing.NoProcessLeftBehind.class)
class ImageIntegrityTest {
    @TempDir
    Path tmp;

    /** Dumps a counter (killed by the dump); returns its images. */
    private Path dumpedCounter(Target t) throws Exception {
        return Checkpoint.dumpUntilGone(t, 2, tmp.resolve("img"));
    }

    private Target counter() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(10_000));
        return Target.start(exe, tmp.resolve("out.txt"));
    }

    private static List<String> names(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void imagesArePrivateAndListedInTheManifest() throws Exception {
        try (Target t = counter()) {
            Path img = dumpedCounter(t);
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(img)));
            List<String> listed = List.copyOf(ImageChecksums.parse(Files.readAllBytes(img.resolve(ImageChecksums.FILE))).keySet());
            for (String name : names(img)) {
                assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(img.resolve(name))), name);
                if (name.endsWith(".img") || name.equals("stats-dump")) {
                    assertTrue(listed.contains(name), name + " is in the manifest " + listed);
                }
            }
            assertTrue(listed.contains("pages-1.img"), listed.toString());
            assertFalse(names(img).contains(ImageChecksums.INCOMPLETE));
        }
    }

    @Test
    void aFlippedByteInAnyFileIsRefusedWithTheFileAndOffset() throws Exception {
        try (Target t = counter()) {
            Path img = dumpedCounter(t);
            List<String> listed = List.copyOf(ImageChecksums.parse(Files.readAllBytes(img.resolve(ImageChecksums.FILE))).keySet());
            for (String name : listed) {
                Path copy = copy(img, tmp.resolve("bad-" + name));
                long size = Files.size(copy.resolve(name));
                flip(copy.resolve(name), size / 2);
                String m = assertThrows(CryoException.class, () -> Checkpoint.restore(copy)).getMessage();
                assertTrue(m.contains(name + ": offset " + (size / 2 / ImageChecksums.BLOCK * ImageChecksums.BLOCK))
                        && m.contains("damaged"), m);
                assertFalse(Target.adopt(t.pid(), t.out()).alive(), "nothing restored from damaged " + name);
            }
            // the same images, undamaged, restore
            assertEquals(0, Checkpoint.restore(img));
            try (Target r = Target.adopt(t.pid(), t.out())) {
                int before = r.lines().size();
                r.awaitLines(before + 3);
            }
        }
    }

    @Test
    void imagesWithoutAManifestRestoreAsBefore() throws Exception {
        try (Target t = counter()) {
            Path img = dumpedCounter(t);
            Files.delete(img.resolve(ImageChecksums.FILE)); // as CRIU (or an older Cryo) writes them
            assertEquals(0, Checkpoint.restore(img));
            try (Target r = Target.adopt(t.pid(), t.out())) {
                r.awaitLines(r.lines().size() + 3);
            }
            assertTrue(Files.readString(img.resolve("restore.log")).contains("has no " + ImageChecksums.FILE));
        }
    }

    @Test
    void aDumpThatFailedLeavesAMarkedDirectoryThatRestoreRefuses() throws Exception {
        try (Target t = counter()) {
            t.awaitLines(2);
            Path img = tmp.resolve("img");
            System.setProperty("cryo.fault.step", "write images");
            assertThrows(CryoException.class, () -> Checkpoint.dump(t.pid(), img, false));
            System.clearProperty("cryo.fault.step");
            assertTrue(t.alive());
            assertEquals(List.of(ImageChecksums.INCOMPLETE, "dump.log"), names(img), "the partial images are gone");
            String m = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
            assertTrue(m.contains("did not finish") && m.contains(ImageChecksums.INCOMPLETE), m);
            // a dump into the same directory then succeeds and clears the mark
            Checkpoint.dump(t.pid(), img, true);
            assertFalse(names(img).contains(ImageChecksums.INCOMPLETE));
            assertTrue(names(img).contains(ImageChecksums.FILE));
        }
    }

    @Test
    void aSecondRestoreOfTheSameImagesIsRefusedNamingTheFirst() throws Exception {
        try (Target t = counter()) {
            Path img = dumpedCounter(t);
            int lock = DirectFiles.tryLockDir(img.toString()); // as a first restore holds it while it builds
            assertTrue(lock >= 0);
            try {
                String m = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
                assertTrue(m.contains("another restore of these images is running")
                        && m.contains("pid " + ProcessHandle.current().pid()), m);
                assertFalse(Target.adopt(t.pid(), t.out()).alive());
            } finally {
                DirectFiles.unlock(lock);
            }
            assertEquals(0, Checkpoint.restore(img));
            Target.adopt(t.pid(), t.out()).close();
        }
    }

    @Test
    void critStillReadsTheDirectory() throws Exception {
        Path crit = Path.of("/usr/bin/crit");
        Assumptions.assumeTrue(Files.isExecutable(crit), "Debian's crit is not installed (/usr/bin/crit): not compared");
        try (Target t = counter()) {
            Path img = dumpedCounter(t);
            String ps = run(crit.toString(), "x", img.toString(), "ps");
            assertTrue(ps.contains(Integer.toString(t.pid())), ps);
            for (String name : names(img)) {
                if (name.endsWith(".img") && !name.startsWith("pages-")) {
                    run(crit.toString(), "decode", "-i", img.resolve(name).toString());
                }
            }
        }
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ": " + out);
        return out;
    }

    static Path copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        for (String name : names(from)) {
            if (!name.endsWith(".log")) {
                Files.copy(from.resolve(name), to.resolve(name), StandardCopyOption.COPY_ATTRIBUTES);
            }
        }
        return to;
    }

    static void flip(Path file, long at) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x01)).rewind();
            ch.write(b, at);
        }
    }

}
