package dev.cryo.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/cryo's start-up archive (an AOT cache or a CDS archive, trained once per jar, JDK and flags) in a copy of the
 * install: {@code bin/cryo} and {@code engine/target/cryo.jar} under a temporary directory, HOME there too. One
 * engine/target serves several JDKs (the host's and, over 9p, the VM's), and the docker sandbox mounts it
 * read-only: neither may make a run fail or train again on every start.
 */
class BinCryoCacheTest {
    static final Path JAR = TestRig.REPO.resolve("engine/target/cryo.jar");

    @TempDir
    Path tmp;
    Path cryo;
    Path target;

    @BeforeEach
    void install() throws IOException {
        assumeTrue(Files.isRegularFile(JAR), "engine/target/cryo.jar is not built (mvn install builds it before this "
                + "module's tests)");
        cryo = Files.createDirectories(tmp.resolve("bin")).resolve("cryo");
        Files.copy(TestRig.REPO.resolve("bin/cryo"), cryo);
        target = Files.createDirectories(tmp.resolve("engine/target"));
        Files.copy(JAR, target.resolve("cryo.jar"));
        Files.createDirectories(tmp.resolve("home"));
    }

    /** The JDKs installed here; CRYO_JAVA picks one. */
    static List<Path> jdks() throws IOException {
        List<Path> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("/usr/lib/jvm"))) {
            s.sorted().map(d -> d.resolve("bin/java")).filter(Files::isExecutable).forEach(java -> {
                try {
                    Path real = java.toRealPath();
                    if (out.stream().noneMatch(o -> realOf(o).equals(real))) {
                        out.add(java);
                    }
                } catch (IOException e) {
                    // a dangling link: not a JDK
                }
            });
        }
        return out;
    }

    private static Path realOf(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            return p;
        }
    }

    private String[] run(Path java, String... shell) throws Exception {
        List<String> argv = new ArrayList<>(List.of("env", "HOME=" + tmp.resolve("home"), "CRYO_RESIDENT=0",
                "CRYO_JAVA=" + java));
        argv.addAll(List.of(shell));
        Process p = new ProcessBuilder(argv).directory(tmp.toFile()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "bin/cryo finished");
        return new String[]{Integer.toString(p.exitValue()), out};
    }

    private List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("cryo-")).sorted().toList();
        }
    }

    /**
     * An archive in a directory the run cannot write (the docker sandbox's read-only engine/target) whose .date is
     * gone: the run must not fail trying to train there (it failed with "Read-only file system" on its lock).
     */
    @Test
    void anArchiveInAReadOnlyDirectoryThatCannotServeDoesNotFailTheRun() throws Exception {
        assumeTrue("0".equals(new String(new ProcessBuilder("id", "-u").start().getInputStream().readAllBytes()).strip()),
                "a read-only bind mount needs root");
        Path java = jdks().get(0);
        String[] trained = run(java, cryo.toString(), "--version");
        assertEquals("0", trained[0], trained[1]);
        List<String> dates = names(target).stream().filter(n -> n.endsWith(".date")).toList();
        assertEquals(1, dates.size(), "one trained archive in engine/target: " + names(target));
        Files.delete(target.resolve(dates.get(0)));
        String[] ro = run(java, "unshare", "-m", "sh", "-c", "mount --bind engine/target engine/target"
                + " && mount -o remount,bind,ro engine/target && exec bin/cryo --version");
        assertEquals("0", ro[0], ro[1]);
        assertTrue(ro[1].contains("Version: ") && !ro[1].contains("Read-only"), ro[1]);
    }

    /**
     * Two JDKs' archives of one jar in one directory: training the second must leave the first usable (its .sum and
     * .date carry the jar's own date, and were taken for an older jar's leftovers and removed).
     */
    @Test
    void twoJdksArchivesOfOneJarLiveSideBySide() throws Exception {
        List<Path> jdks = jdks();
        if (jdks.size() < 2) {
            System.out.println("SKIPPED: one JDK installed here (" + jdks + "), two are needed");
        }
        assumeTrue(jdks.size() >= 2, "two JDKs are needed");
        String[] first = run(jdks.get(0), cryo.toString(), "--version");
        assertEquals("0", first[0], first[1]);
        List<String> afterFirst = names(target);
        String[] second = run(jdks.get(1), cryo.toString(), "--version");
        assertEquals("0", second[0], second[1]);
        List<String> afterSecond = names(target);
        assertTrue(afterSecond.containsAll(afterFirst), "the first JDK's archive files stay: " + afterFirst
                + " then " + afterSecond);
        assertEquals(2, afterSecond.stream().filter(n -> n.endsWith(".date")).count(), afterSecond.toString());
        assertFalse(afterSecond.stream().anyMatch(n -> n.endsWith(".failed")), afterSecond.toString());
    }
}
