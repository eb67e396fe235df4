package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.engine.testing.Programs;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Every image the engine writes decodes under Debian's crit. */
class ImageCompatibilityTest {
    @TempDir
    Path tmp;

    @BeforeEach
    void needRootAndCrit() throws Exception {
        Privileges.assumeRootWithPtrace();
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/crit")), "crit (Debian package criu) is not installed");
    }

    @Test
    void everyImageDecodesUnderCrit() throws Exception {
        Path exe = CProgram.compile(tmp, "state", Programs.STATE);
        Path img = tmp.resolve("img");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(img));
        }
        List<String> expected = List.of("inventory.img", "pstree.img", "files.img", "seccomp.img", "timens-0.img",
                "stats-dump", "stats-restore", "pipes-data.img", "fdinfo-2.img");
        List<Path> images;
        try (Stream<Path> s = Files.list(img)) {
            images = s.filter(p -> !p.getFileName().toString().endsWith(".log")
                    && !p.getFileName().toString().startsWith("pages-")).sorted().toList();
        }
        List<String> names = images.stream().map(p -> p.getFileName().toString()).toList();
        assertTrue(names.containsAll(expected), names.toString());
        assertTrue(names.stream().anyMatch(n -> n.matches("core-\\d+\\.img")), names.toString());
        List<String> failures = new ArrayList<>();
        for (Path p : images) {
            Process crit = new ProcessBuilder("/usr/bin/crit", "decode", "-i", p.toString()).redirectErrorStream(true).start();
            String out = new String(crit.getInputStream().readAllBytes());
            if (!crit.waitFor(60, TimeUnit.SECONDS) || crit.exitValue() != 0 || !out.contains("\"magic\"")) {
                failures.add(p.getFileName() + ": " + out);
            }
        }
        assertEquals(List.of(), failures);
    }
}
