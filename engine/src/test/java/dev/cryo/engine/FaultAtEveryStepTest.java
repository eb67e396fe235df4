package dev.cryo.engine;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Privileges;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static dev.cryo.engine.CounterRoundTripTest.assertCounts;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every named step of dump, pre-dump and restore faulted in turn, by an injected failure and by a stop signal
 * (SIGTERM, SIGINT, SIGHUP) that reaches Cryo there: after a faulted dump or pre-dump the target runs on as it was
 * (same maps, signal masks and dispositions, fds; no tracer; no network-lock table; counting on without a gap);
 * after a stopped restore nothing is left.
 */
class FaultAtEveryStepTest {
    static final List<String> DUMP_STEPS = List.of("warm up", "freeze", "collect", "write images", "kill");
    static final List<String> PRE_DUMP_STEPS = List.of("warm up", "freeze", "collect", "write images", "resume");
    static final String[] SIGNALS = catchable("TERM", "INT", "HUP");

    /**
     * The stop signals this JVM may catch: one ignored when it started stays ignored, as for any program (the JVM
     * installs no handler then, and Cryo keeps the convention: {@code nohup} leaves SIGHUP ignored, a shell's
     * {@code &} SIGINT), so a test run under those cannot see Cryo stop on them. Said once; SIGTERM is never
     * left out silently: a run where every one is ignored fails.
     */
    static String[] catchable(String... names) {
        long ignored = 0;
        try {
            for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("SigIgn:")) {
                    ignored = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        java.util.List<String> out = new java.util.ArrayList<>();
        for (String n : names) {
            int number = new sun.misc.Signal(n).getNumber();
            if ((ignored & (1L << (number - 1))) == 0) {
                out.add(n);
            } else {
                System.out.println("FaultAtEveryStepTest: SIG" + n + " left out: it was ignored when this JVM started"
                        + " (nohup, or a shell's &), and stays ignored for Cryo too");
            }
        }
        if (out.isEmpty()) {
            throw new IllegalStateException("every stop signal " + java.util.List.of(names) + " is ignored in this JVM");
        }
        return out.toArray(String[]::new);
    }

    @TempDir
    Path tmp;
    long childrenBefore;

    @BeforeEach
    void needRoot() throws Exception {
        Privileges.assumeRootWithPtrace();
        childrenBefore = ProcessHandle.current().children().count();
    }

    @AfterEach
    void nothingLeft() {
        System.clearProperty("cryo.fault.step");
        System.clearProperty("cryo.fault.signal.step");
        System.clearProperty("cryo.fault.signal");
        assertEquals(childrenBefore, ProcessHandle.current().children().filter(ProcessHandle::isAlive).count(),
                "no helper or half-built process remains");
    }

    /** What of a process a failed dump must leave as it was, read from /proc without touching it. */
    record State(String maps, TreeMap<String, String> status, TreeMap<String, String> fds, String tables) {
        static State of(int pid) throws IOException {
            TreeMap<String, String> status = new TreeMap<>();
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                String key = line.substring(0, line.indexOf(':'));
                if (List.of("SigBlk", "SigIgn", "SigCgt", "TracerPid", "Threads", "NoNewPrivs", "Seccomp").contains(key)) {
                    status.put(key, line.substring(line.indexOf(':') + 1).strip());
                }
            }
            TreeMap<String, String> fds = new TreeMap<>();
            try (var s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
                for (Path fd : s.toList()) {
                    fds.put(fd.getFileName().toString(), Files.readSymbolicLink(fd).toString());
                }
            }
            return new State(Files.readString(Path.of("/proc/" + pid + "/maps")), status, fds, cryoTables());
        }
    }

    /** Cryo's network-lock tables (inet cryo-lock-PID), if nft is there to ask. */
    static String cryoTables() {
        try {
            Process p = new ProcessBuilder("nft", "list", "tables").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            p.waitFor(20, TimeUnit.SECONDS);
            return out.lines().filter(l -> l.contains("cryo-lock-")).toList().toString();
        } catch (IOException | InterruptedException e) {
            return "nft not available";
        }
    }

    private Target counter() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(5_000));
        Target t = Target.start(exe, tmp.resolve("out.txt"));
        t.awaitLines(3);
        return t;
    }

    private static void runsOnAsItWas(Target t, State before, String what) throws Exception {
        assertTrue(t.alive(), what + ": pid " + t.pid() + " still runs");
        t.awaitLines(t.lines().size() + 3);
        assertCounts(t.lines());
        State after = State.of(t.pid());
        assertEquals(before, after, what + ": the target's maps, signals, fds, tracer, nft tables");
        assertEquals("0", after.status().get("TracerPid"), what + ": no tracer attached");
    }

    private String failedDump(Target t, boolean preDump, String step) {
        Path img = tmp.resolve("img-" + step.replace(' ', '-') + "-" + System.nanoTime());
        DumpOptions o = Checkpoint.dumpOptions(t.pid(), img, false);
        DumpOptions options = new DumpOptions(o.pid(), o.imagesDir(), preDump, o.leaveRunning(), o.shellJob(),
                o.tcpEstablished(), o.extUnixSk(), o.trackMem(), o.prevImagesDir(), o.preDumpMode(), o.timeout());
        return assertThrows(CryoException.class, () -> Checkpoint.dump(options),
                (preDump ? "pre-dump" : "dump") + " faulted at " + step).getMessage();
    }

    @Test
    void aFaultAtEveryDumpAndPreDumpStepLeavesTheTargetAsItWas() throws Exception {
        List<String> tried = new ArrayList<>();
        try (Target t = counter()) {
            State before = State.of(t.pid());
            for (boolean preDump : new boolean[]{false, true}) {
                for (String step : preDump ? PRE_DUMP_STEPS : DUMP_STEPS) {
                    System.setProperty("cryo.fault.step", step);
                    String m = failedDump(t, preDump, step);
                    assertTrue(m.contains("pid " + t.pid()) && m.contains("fault injected at step '" + step + "'"), m);
                    runsOnAsItWas(t, before, (preDump ? "pre-dump" : "dump") + " faulted at " + step);
                    tried.add(step);
                }
            }
        }
        System.out.println("faulted steps: " + tried);
    }

    /**
     * The same for a threaded process whose threads are each in their own state (counting with their own mask,
     * altstack and pending signal; in a condition variable, nanosleep, a pipe read; spinning; holding a robust mutex):
     * after each faulted dump or pre-dump every thread has its mask and pending signals, no tracer, the maps are the
     * same, and at the end every thread's own check holds (its registers, altstack, TLS).
     */
    @Test
    void aFaultAtEveryStepLeavesEveryThreadOfAThreadedProcessAsItWas() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("threads"));
        try (Target t = ThreadsRoundTripTest.startFixture(dir, "threads-state", "--states=cvnrsmcc")) {
            Map<String, String> before = threadsOf(t.pid());
            for (boolean preDump : new boolean[]{false, true}) {
                for (String step : preDump ? PRE_DUMP_STEPS : DUMP_STEPS) {
                    System.setProperty("cryo.fault.step", step);
                    String m = failedDump(t, preDump, step);
                    assertTrue(m.contains("fault injected at step '" + step + "'"), m);
                    // eventually: a thread resumed in sigsuspend (the fixture's wait for its verdict) shows its saved
                    // mask for a moment, between the kernel putting it back and the call's restart taking it again
                    String what = (preDump ? "pre-dump" : "dump") + " faulted at " + step;
                    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertEquals(before, threadsOf(t.pid()), what));
                }
            }
            System.clearProperty("cryo.fault.step");
            assertEquals("PASS", ThreadsRoundTripTest.verdict(dir, t), "every thread's own check");
        }
    }

    /** Each thread's mask, pending signals and tracer, and the process's maps. */
    private static Map<String, String> threadsOf(int pid) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : tasks.toList()) {
                for (String line : Files.readAllLines(task.resolve("status"))) {
                    String key = line.substring(0, line.indexOf(':'));
                    if (List.of("SigBlk", "SigPnd", "ShdPnd", "TracerPid").contains(key)) {
                        m.put(task.getFileName() + " " + key, line.substring(line.indexOf(':') + 1).strip());
                    }
                }
            }
        }
        m.put("maps", Files.readString(Path.of("/proc/" + pid + "/maps")));
        return m;
    }

    @Test
    void aStopSignalAtEveryDumpAndPreDumpStepPutsTheTargetBack() throws Exception {
        int n = 0;
        try (Target t = counter()) {
            State before = State.of(t.pid());
            for (boolean preDump : new boolean[]{false, true}) {
                for (String step : preDump ? PRE_DUMP_STEPS : DUMP_STEPS) {
                    String sig = SIGNALS[n++ % SIGNALS.length];
                    System.setProperty("cryo.fault.signal.step", step);
                    System.setProperty("cryo.fault.signal", sig);
                    String m = failedDump(t, preDump, step);
                    assertTrue(m.contains("stopped by SIG" + sig) && m.contains("pid " + t.pid())
                            && m.contains("runs on"), m);
                    runsOnAsItWas(t, before, (preDump ? "pre-dump" : "dump") + " stopped by SIG" + sig + " at " + step);
                }
            }
        }
    }

    @Test
    void aStopSignalDuringRestoreLeavesNothing() throws Exception {
        try (Target t = counter()) {
            Path img = tmp.resolve("img");
            Checkpoint.dump(t.pid(), img, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            for (String sig : SIGNALS) {
                System.setProperty("cryo.fault.signal.step", "resume");
                System.setProperty("cryo.fault.signal", sig);
                String m = assertThrows(CryoException.class, () -> Checkpoint.restore(img)).getMessage();
                assertTrue(m.contains("stopped by SIG" + sig) && m.contains("nothing is left"), m);
                assertFalse(ProcessHandle.of(t.pid()).map(ProcessHandle::isAlive).orElse(false),
                        "pid " + t.pid() + " was not left half-built");
            }
            System.clearProperty("cryo.fault.signal.step");
            assertEquals(0, Checkpoint.restore(img), "the images are intact");
            try (Target r = Target.adopt(t.pid(), t.out())) {
                r.awaitLines(r.lines().size() + 3);
                assertCounts(r.lines());
            }
        }
    }
}
