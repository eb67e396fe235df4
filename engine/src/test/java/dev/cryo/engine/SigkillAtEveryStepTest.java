package dev.cryo.engine;

import dev.cryo.engine.cli.Main;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Cryo killed by SIGKILL (which it cannot catch) at each named step of {@code dump -R}: the kernel detaches the
 * target, which must run on exactly as it was: alive, untraced, its signal masks and maps unchanged, and its
 * count going on without a gap. Between its remote syscalls Cryo keeps the target's registers and mask its own,
 * so that a kill anywhere but inside one of them changes nothing.
 */
class SigkillAtEveryStepTest {
    static final Pattern KEPT = Pattern.compile("^(SigBlk|SigIgn|SigCgt|TracerPid):.*$", Pattern.MULTILINE);

    @TempDir
    Path tmp;

    @BeforeEach
    void root() throws Exception {
        Privileges.assumeRootWithPtrace();
    }

    private static String state(int pid) throws Exception {
        String status = Files.readString(Path.of("/proc/" + pid + "/status"));
        StringBuilder s = new StringBuilder();
        KEPT.matcher(status).results().forEach(m -> s.append(m.group()).append('\n'));
        return s + Files.readString(Path.of("/proc/" + pid + "/maps"));
    }

    private static String tracer(int pid) throws Exception {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                .filter(l -> l.startsWith("TracerPid:")).findFirst().orElseThrow().split("\\s+")[1];
    }

    /** The children of {@code pid} that are Cryo's helper processes (a {@code sleep} named cryo-helper). */
    private static List<String> helpersOf(long pid) throws Exception {
        List<String> helpers = new java.util.ArrayList<>();
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : tasks.toList()) {
                for (String child : Files.readString(task.resolve("children")).trim().split("\\s+")) {
                    try {
                        if (!child.isEmpty() && Files.readString(Path.of("/proc/" + child + "/cmdline")).startsWith("cryo-helper")) {
                            helpers.add(child);
                        }
                    } catch (java.nio.file.NoSuchFileException gone) {
                        // ended meanwhile: not alive
                    }
                }
            }
        }
        return helpers;
    }

    @ParameterizedTest
    @ValueSource(strings = {"freeze", "collect", "write images", "resume"})
    void theTargetRunsOnAsItWas(String step) throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(5_000));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            String before = state(t.pid());
            Path marker = tmp.resolve("hanging");
            Files.createDirectories(tmp.resolve("img"));
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Process cryo = new ProcessBuilder(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                    "-Dcryo.fault.hang.step=" + step.replace(' ', '_'), "-Dcryo.fault.hang.file=" + marker,
                    "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                    "dump", "-t", Integer.toString(t.pid()), "-D", tmp.resolve("img").toString(), "-R")
                    .redirectErrorStream(true).redirectOutput(tmp.resolve("cryo.out").toFile()).start();
            try {
                await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(marker) || !cryo.isAlive());
                assertTrue(cryo.isAlive(), "cryo ended before step '" + step + "': " + Files.readString(tmp.resolve("cryo.out")));
                // the kill lands in the dump of the target, not in the rehearsal on Cryo's own helper (which ends first)
                if (!step.equals("freeze")) {
                    String tracer = tracer(t.pid()); // a thread of Cryo's (TracerPid names the tracing thread)
                    assertTrue(!tracer.equals("0") && Files.exists(Path.of("/proc/" + cryo.pid() + "/task/" + tracer)),
                            "pid " + t.pid() + " is traced by Cryo (" + cryo.pid() + ") at step '" + step + "': TracerPid " + tracer);
                }
                assertEquals(List.of(), helpersOf(cryo.pid()), "Cryo's helpers alive at step '" + step + "'");
            } finally {
                cryo.destroyForcibly(); // SIGKILL
                cryo.waitFor();
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive() || tracer(t.pid()).equals("0"));
            int seen = t.lines().size();
            t.awaitLines(seen + 5);
            assertTrue(t.alive(), "pid " + t.pid() + " runs on after Cryo was killed at step '" + step + "'");
            assertEquals(before, state(t.pid()), "masks, tracer and maps after a kill at step '" + step + "'");
            List<String> lines = t.lines();
            for (int i = 1; i < lines.size() - 1; i++) { // the last line may be half written
                assertEquals(Long.parseLong(lines.get(i - 1).strip()) + 1, Long.parseLong(lines.get(i).strip()),
                        "the count goes on without a gap or a repeat (line " + i + ")");
            }
        }
    }
}
