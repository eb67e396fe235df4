package dev.cryo.conformance;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * bin/cryo's hand-off to the resident service ({@code cryo service --resident}): the same stdout, stderr and exit
 * status as a fresh cryo, a fallback to a fresh cryo when the service is gone or stuck, and a dump and restore of a
 * fixture through the service. Each hand-off is checked in the service's log, so a silent fallback cannot pass.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ResidentServiceTest {
    static final Path CRYO = TestRig.REPO.resolve("bin/cryo");
    static Path serviceDir;
    static Path serviceLog;
    static Process service;

    @BeforeAll
    static void startService() throws Exception {
        assumeTrue("0".equals(idOutput()), "the resident service serves root only; these tests run as root");
        assumeTrue(Files.isRegularFile(TestRig.REPO.resolve("engine/target/cryo.jar")),
                "engine/target/cryo.jar is not built (mvn install builds it before this module's tests)");
        serviceDir = scratchDir("cryo-resident-test"); // 0700, root's
        serviceLog = Files.createTempFile("cryo-resident-test", ".log");
        SCRATCH.add(serviceLog);
        service = new ProcessBuilder(CRYO.toString(), "service", "--resident", "--dir", serviceDir.toString(),
                "-o", serviceLog.toString(), "-v4")
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectErrorStream(true).start();
        // the service warms itself up (a few rehearsal dumps) before it writes its pid file
        await().atMost(Duration.ofMinutes(5)).pollInterval(Duration.ofMillis(100))
                .until(() -> Files.exists(serviceDir.resolve("pid")) || !service.isAlive());
        assertTrue(service.isAlive(), "the resident service ended at start: " + Files.readString(serviceLog));
    }

    @AfterAll
    static void stopService() throws Exception {
        try {
            stopIfRunning();
        } finally {
            for (Path p : SCRATCH) {
                deleteTree(p);
            }
        }
    }

    /** Temporary files and directories the tests made, removed at the end. */
    static final List<Path> SCRATCH = new java.util.concurrent.CopyOnWriteArrayList<>();

    static Path scratchDir(String prefix) throws IOException {
        Path dir = Files.createTempDirectory(prefix);
        SCRATCH.add(dir);
        return dir;
    }

    static void deleteTree(Path p) {
        try (var walk = Files.walk(p)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            // already gone
        }
    }

    static void stopIfRunning() throws Exception {
        if (service == null || !service.isAlive()) {
            return; // never started, or stopped by the last test
        }
        Result stop = cryo(Map.of(), null, "service", "--resident", "--stop", "--dir", serviceDir.toString());
        assertEquals(0, stop.exit, stop.toString());
        assertTrue(service.waitFor(2, TimeUnit.MINUTES), "the service ended after --stop");
        assertFalse(Files.exists(serviceDir.resolve("pid")), "the pid file is removed at stop");
        assertFalse(Files.exists(serviceDir.resolve("requests")), "the FIFO is removed at stop");
    }

    @Test
    void successAndUsageErrorsGiveWhatAFreshCryoGives() throws Exception {
        List<List<String>> lines = List.of(
                List.of("check", "--feature", "rseq"),
                List.of("check", "--feature", "no_such_feature"),
                List.of("dump"),                                    // no -t: the quick reader's error
                List.of("dump", "-t", "1", "--no-such-option"),     // picocli's error and usage
                List.of("restore", "-d", "-D", "/nonexistent/images"),
                List.of("dump", "--help"));
        for (List<String> args : lines) {
            Result fresh = fresh(null, args.toArray(new String[0]));
            Result handedOff = handedOff(null, args.toArray(new String[0]));
            assertEquals(fresh.exit, handedOff.exit, "exit status of " + args + ": " + handedOff);
            assertEquals(fresh.out, handedOff.out, "stdout of " + args);
            assertEquals(fresh.err, handedOff.err, "stderr of " + args);
            assertServed(handedOff);
        }
    }

    /**
     * {@code dump -t $$} from the shell that runs cryo: a fresh cryo is in that tree and refuses it. The service,
     * outside the tree, would freeze (and without -R kill) its own caller: it declines, and the fresh cryo refuses.
     */
    @Test
    void aDumpOfATreeThatHoldsTheCallerIsDeclinedAndRefused() throws Exception {
        Path images = scratchDir("cryo-resident-self");
        // "; exit": bash would otherwise exec cryo in its own process, which a fresh cryo refuses as itself
        Result r = run(List.of("bash", "-c", "\"$0\" dump -t $$ -D \"$1\" -R; exit $?", CRYO.toString(),
                images.toString()),
                Map.of("CRYO_RESIDENT_DIR", serviceDir.toString()), null);
        assertEquals(1, r.exit, r.toString());
        assertTrue(r.err.contains("Cryo itself") && r.err.contains("is in its tree"), r.err);
        assertTrue(Files.readString(serviceLog, StandardCharsets.UTF_8).contains("declined: the caller is in the tree "
                + "it asks to dump"), "the service declined it");
    }

    @Test
    void outputToAPipeAndTheOrderOfBothStreamsInOneFileAreKept() throws Exception {
        // stdout a pipe (reopened through /proc), then stdout and stderr one file (one spool keeps their order)
        String[] args = {"check", "--feature", "rseq"};
        Result fresh = run(List.of("bash", "-c", "\"$0\" \"$@\" | cat", CRYO.toString(), args[0], args[1], args[2]),
                Map.of("CRYO_RESIDENT", "0"), null);
        Result handedOff = run(List.of("bash", "-c", "\"$0\" \"$@\" | cat", CRYO.toString(), args[0], args[1], args[2]),
                Map.of("CRYO_RESIDENT_DIR", serviceDir.toString()), null);
        assertEquals(fresh.out, handedOff.out);
        assertEquals(0, handedOff.exit, handedOff.toString());
        String both = "\"$0\" \"$@\" >\"$OUT\" 2>&1; s=$?; cat \"$OUT\"; exit $s";
        Path outFile = Files.createTempFile("cryo-resident", ".out");
        Map<String, String> env = new HashMap<>(Map.of("OUT", outFile.toString(), "CRYO_RESIDENT", "0"));
        fresh = run(List.of("bash", "-c", both, CRYO.toString(), "dump", "-t", "1", "--no-such-option"), env, null);
        env.remove("CRYO_RESIDENT");
        env.put("CRYO_RESIDENT_DIR", serviceDir.toString());
        handedOff = run(List.of("bash", "-c", both, CRYO.toString(), "dump", "-t", "1", "--no-such-option"), env, null);
        assertEquals(fresh.exit, handedOff.exit);
        assertEquals(fresh.out, handedOff.out, "stdout and stderr in one file, in the same order");
        Files.deleteIfExists(outFile);
    }

    @Test
    void aServiceThatIsGoneOrStuckLeavesAFreshCryoToRun() throws Exception {
        Result fresh = fresh(null, "check", "--feature", "rseq");
        assertEquals(0, fresh.exit, fresh.toString());

        // gone: killed -9, its pid file and FIFO left behind
        Path gone = scratchDir("cryo-resident-gone");
        Process ended = new ProcessBuilder("true").start();
        assertTrue(ended.waitFor(1, TimeUnit.MINUTES));
        Files.writeString(gone.resolve("pid"), ended.pid() + "\n");
        mkfifo(gone.resolve("requests"));
        Result r = cryo(Map.of("CRYO_RESIDENT_DIR", gone.toString()), null, "check", "--feature", "rseq");
        assertEquals(fresh, r, "a dead service's leftovers");

        // stuck: a live process with --resident in its command line that never reads the FIFO
        Path stuck = scratchDir("cryo-resident-stuck");
        Process sleeper = new ProcessBuilder("bash", "-c", "sleep 600; :", "service", "--resident").start();
        try {
            Files.writeString(stuck.resolve("pid"), sleeper.pid() + "\n");
            mkfifo(stuck.resolve("requests"));
            r = cryo(Map.of("CRYO_RESIDENT_DIR", stuck.toString(), "CRYO_RESIDENT_TIMEOUT", "1"), null,
                    "check", "--feature", "rseq");
            assertEquals(fresh, r, "a stuck service");
            try (var left = Files.list(stuck)) {
                assertEquals(List.of(), left.filter(p -> p.toString().endsWith(".req")).toList(),
                        "the request was withdrawn");
            }
        } finally {
            sleeper.descendants().forEach(ProcessHandle::destroyForcibly); // its sleep would outlive it
            sleeper.destroyForcibly().waitFor();
        }
    }

    @Test
    void aDumpThroughTheServiceRestoresThroughIt() throws Exception {
        Path fixture = TestRig.REPO.resolve("fixtures-c/build/counter");
        assumeTrue(Files.isExecutable(fixture), "the C fixtures are not built: run `make fixtures` (make test does)");
        Path work = scratchDir("cryo-resident-dump");
        Path ready = work.resolve("ready"), result = work.resolve("result");
        ProcessBuilder pb = new ProcessBuilder("setsid", fixture.toString(), "--step-ms=10", "--buffer=line")
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(work.resolve("counter.out").toFile()).redirectError(work.resolve("counter.err").toFile());
        pb.environment().put("CRYO_FX_READY", ready.toString());
        pb.environment().put("CRYO_FX_RESULT", result.toString());
        Process counter = pb.start();
        try {
            await().atMost(Duration.ofMinutes(1)).until(() -> Files.exists(ready));
            String pid = Long.toString(counter.pid());
            Files.createDirectory(work.resolve("img"));
            // relative -D and -o: read against the caller's directory, not the service's
            Result dump = handedOff(work, "dump", "-t", pid, "-D", "img", "-o", "dump.log", "-v4");
            assertEquals(0, dump.exit, dump + "\n" + log(work.resolve("img/dump.log")));
            assertServed(dump);
            assertTrue(counter.waitFor(1, TimeUnit.MINUTES), "the dump ended the counter");
            Result restore = handedOff(work, "restore", "-d", "-D", "img", "-o", "restore.log", "-v4");
            assertEquals(0, restore.exit, restore + "\n" + log(work.resolve("img/restore.log")));
            assertServed(restore);
            assertTrue(Files.exists(Path.of("/proc", pid)), "the counter runs again with its pid");
            Result show = handedOff(work, "show", "img/pstree.img");
            assertEquals(fresh(work, "show", "img/pstree.img"), show, "show through the service");
            new ProcessBuilder("kill", "-USR2", pid).start().waitFor();
            await().atMost(Duration.ofMinutes(1)).until(() -> Files.exists(result));
            assertEquals("PASS", Files.readString(result).strip());
        } finally {
            counter.destroyForcibly();
        }
    }

    @Test
    @Order(Integer.MAX_VALUE) // it stops the service
    void sigtermToTheServiceDuringADumpPutsTheTargetBackAndEndsTheService() throws Exception {
        Path fixture = TestRig.REPO.resolve("fixtures-c/build/memory");
        assumeTrue(Files.isExecutable(fixture), "the C fixtures are not built: run `make fixtures` (make test does)");
        Path work = scratchDir("cryo-resident-sigterm");
        Path ready = work.resolve("ready");
        // 64 mappings, about 1 GiB written: a frozen window of hundreds of ms, long enough to be seen
        ProcessBuilder pb = new ProcessBuilder("setsid", fixture.toString(), "--maps=64", "--pages=8192")
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(work.resolve("memory.out").toFile()).redirectErrorStream(true);
        pb.environment().put("CRYO_FX_READY", ready.toString());
        Process target = pb.start();
        try {
            await().atMost(Duration.ofMinutes(2)).until(() -> Files.exists(ready));
            Path status = Path.of("/proc", Long.toString(target.pid()), "status");
            Files.createDirectory(work.resolve("img"));
            ProcessBuilder dump = new ProcessBuilder(CRYO.toString(), "dump", "-t", Long.toString(target.pid()), "-D",
                    "img", "-o", "dump.log", "-v4").directory(work.toFile())
                    .redirectOutput(work.resolve("dump.out").toFile()).redirectErrorStream(true);
            dump.environment().put("CRYO_RESIDENT_DIR", serviceDir.toString());
            Process client = dump.start();
            await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(1))
                    .until(() -> Files.readString(status).contains("t (tracing stop)") || !client.isAlive());
            assertTrue(client.isAlive(), "the frozen window was seen before the dump ended");
            long pid = Long.parseLong(Files.readString(serviceDir.resolve("pid")).strip());
            assertEquals(0, new ProcessBuilder("kill", "-TERM", Long.toString(pid)).start().waitFor());
            assertTrue(client.waitFor(3, TimeUnit.MINUTES));
            String out = Files.readString(work.resolve("dump.out"));
            assertEquals(1, client.exitValue(), out);
            assertTrue(out.contains("SIGTERM") && out.contains("put back"), out);
            assertTrue(service.waitFor(2, TimeUnit.MINUTES), "the service ended after the request");
            assertFalse(Files.exists(serviceDir.resolve("pid")), "its pid file is removed");
            String state = Files.readString(status);
            assertTrue(state.contains("TracerPid:\t0\n") && !state.contains("(stopped)") && !state.contains("tracing stop"),
                    "the target runs, untraced:\n" + state);
            assertTrue(target.isAlive());
        } finally {
            target.destroyForcibly();
        }
    }

    // ---- running bin/cryo ----

    record Result(int exit, String out, String err, long pid) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Result r && r.exit == exit && r.out.equals(out) && r.err.equals(err);
        }

        @Override
        public int hashCode() {
            return exit;
        }

        @Override
        public String toString() {
            return "exit " + exit + ", stdout [" + out + "], stderr [" + err + "]";
        }
    }

    static Result handedOff(Path cwd, String... args) throws Exception {
        return cryo(Map.of("CRYO_RESIDENT_DIR", serviceDir.toString()), cwd, args);
    }

    static Result fresh(Path cwd, String... args) throws Exception {
        return cryo(Map.of("CRYO_RESIDENT", "0"), cwd, args);
    }

    static Result cryo(Map<String, String> env, Path cwd, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(CRYO.toString()));
        cmd.addAll(List.of(args));
        return run(cmd, env, cwd);
    }

    static Result run(List<String> cmd, Map<String, String> env, Path cwd) throws Exception {
        Path out = Files.createTempFile("cryo-resident", ".out"), err = Files.createTempFile("cryo-resident", ".err");
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            pb.environment().remove("CRYO_RESIDENT");
            pb.environment().remove("CRYO_RESIDENT_DIR");
            pb.environment().putAll(env);
            if (cwd != null) {
                pb.directory(cwd.toFile());
            }
            Process p = pb.start();
            assertTrue(p.waitFor(3, TimeUnit.MINUTES), "bin/cryo " + cmd + " did not end");
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err), p.pid());
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** The service's log names each request it ran by the caller's pid: the hand-off happened. */
    static void assertServed(Result r) throws IOException {
        String log = Files.readString(serviceLog, StandardCharsets.UTF_8);
        assertTrue(java.util.regex.Pattern.compile("request " + r.pid + "\\.\\S+ served: ").matcher(log).find(),
                "the service ran the request of pid " + r.pid + "; its log:\n" + log);
    }

    static String log(Path file) throws IOException {
        return Files.exists(file) ? Files.readString(file) : "(no " + file + ")";
    }

    static void mkfifo(Path path) throws Exception {
        assertEquals(0, new ProcessBuilder("mkfifo", "-m", "600", path.toString()).start().waitFor());
    }

    static String idOutput() throws Exception {
        Process p = new ProcessBuilder("id", "-u").start();
        return new String(p.getInputStream().readAllBytes()).strip();
    }
}
