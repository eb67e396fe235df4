package dev.cryo.engine;

import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.thread_core_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Multi-threaded processes, with the self-checking fixture {@code threads-state}: each thread is in its own state
 * (counting in TLS with its own mask, altstack and pending signal; condvar; nanosleep; pipe read; spinning; robust
 * mutex holder) and checks itself after the restore; its name says its kind and index ("v-1").
 */
@RootWithPtrace
class ThreadsRoundTripTest {
    @TempDir
    Path tmp;

    /** The fixture binary, built by the fixtures' Makefile when missing. */
    static Path fixture(String name) throws IOException, InterruptedException {
        Path dir = Path.of("..", "fixtures-c").toAbsolutePath().normalize();
        Path exe = dir.resolve("build").resolve(name);
        if (!Files.isExecutable(exe)) {
            Process make = new ProcessBuilder("make", "-C", dir.toString(), "build/" + name).redirectErrorStream(true)
                    .start();
            String out = new String(make.getInputStream().readAllBytes());
            assertTrue(make.waitFor(120, TimeUnit.SECONDS) && make.exitValue() == 0, "make " + name + ": " + out);
        }
        return exe;
    }

    private Target start(String... args) throws Exception {
        return startFixture("threads-state", args);
    }

    private Target startFixture(String name, String... args) throws Exception {
        return startFixture(tmp, name, args);
    }

    /** A self-checking fixture with its ready, result and output files in {@code dir}, once it says it is ready. */
    static Target startFixture(Path dir, String name, String... args) throws Exception {
        String[] all = new String[args.length + 3];
        all[0] = "CRYO_FX_READY=" + dir.resolve("ready");
        all[1] = "CRYO_FX_RESULT=" + dir.resolve("result");
        all[2] = fixture(name).toString();
        System.arraycopy(args, 0, all, 3, args.length);
        Target t = Target.start(Path.of("/usr/bin/env"), dir.resolve("out.txt"), all);
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(dir.resolve("ready")));
        return t;
    }

    private String verdict(Target t) throws Exception {
        return verdict(tmp, t);
    }

    /** What a fixture {@link #startFixture started in dir} finds when asked to check itself (SIGUSR2). */
    static String verdict(Path dir, Target t) throws Exception {
        ProcessStateRoundTripTest.kill("-USR2", t.pid());
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(dir.resolve("result")));
        return Files.readString(dir.resolve("result")).strip();
    }

    private static List<String> tids(int pid) throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/task"))) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void everyThreadComesBackWithItsTidAndItsOwnState() throws Exception {
        try (Target t = start("--states=cvnrsmcc")) {
            List<String> before = tids(t.pid());
            assertEquals(9, before.size());
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
            ImageDir img = ImageDir.open(tmp.resolve("img"));
            assertEquals(before, img.pstree().get(0).getThreadsList().stream().map(String::valueOf).sorted().toList(),
                    "pstree.img lists every thread");
            for (String tid : before) {
                core_entry c = img.core(Integer.parseInt(tid));
                assertTrue(c.hasThreadInfo() && c.hasThreadCore(), "core-" + tid + ".img has the thread's state");
                assertEquals(tid.equals(Integer.toString(t.pid())), c.hasTc(), "only the leader's core has the task's");
            }
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertEquals(before, tids(t.pid()), "every tid kept");
            assertEquals("PASS", verdict(t));
        }
    }

    /**
     * Threads spinning with values in zmm8-31 and k1-k7 (ymm8-15 without AVX-512), stopped mid-loop: every extended
     * register comes back where this CPU keeps it. On an AMD CPU the AVX-512 parts were read at Intel's offsets and
     * lost.
     */
    @Test
    void extendedRegistersComeBack() throws Exception {
        try (Target t = startFixture("xstate", "--threads=3")) {
            for (int cycle = 1; cycle <= 2; cycle++) {
                Checkpoint.dump(t.pid(), tmp.resolve("img" + cycle), false);
                await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
                assertEquals(0, Checkpoint.restore(tmp.resolve("img" + cycle)));
            }
            assertEquals("PASS", verdict(t));
        }
    }

    /**
     * A restore of a threaded process faulted at each of its steps leaves no task and holds no tid; the restore after
     * them brings every thread back, each with its own state.
     */
    @Test
    void aFaultAtEveryRestoreStepLeavesNoThreadBehind() throws Exception {
        try (Target t = start("--states=cvnrsmcc")) {
            List<String> tids = tids(t.pid());
            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(10)).until(() -> tids.stream().noneMatch(ThreadsRoundTripTest::held));
            try {
                for (String step : List.of("check pids", "fork", "build", "ready", "resume")) { // a one-task plan's
                    System.setProperty("cryo.fault.step", step);
                    CryoException e = org.junit.jupiter.api.Assertions.assertThrows(CryoException.class,
                            () -> Checkpoint.restore(tmp.resolve("img")), "restore faulted at " + step);
                    assertTrue(e.getMessage().contains("fault injected at step '" + step + "'"), e.getMessage());
                    await().atMost(Duration.ofSeconds(10)).until(() -> tids.stream().noneMatch(ThreadsRoundTripTest::held));
                }
            } finally {
                System.clearProperty("cryo.fault.step");
            }
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertEquals(tids, tids(t.pid()), "every tid kept");
            assertEquals("PASS", verdict(t));
        }
    }

    private static boolean held(String tid) {
        return Files.exists(Path.of("/proc/" + tid));
    }

    @Test
    void aRestoredThreadedProcessCanBeDumpedAgain() throws Exception {
        try (Target t = start("--threads=12")) {
            for (int cycle = 1; cycle <= 2; cycle++) {
                Checkpoint.dump(t.pid(), tmp.resolve("img" + cycle), false);
                await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
                assertEquals(0, Checkpoint.restore(tmp.resolve("img" + cycle)));
            }
            assertEquals("PASS", verdict(t));
        }
    }

    /** The fields of a thread's status and stat that do not change while it waits. */
    static Map<String, String> observeThread(int pid, String tid, boolean blocked) throws IOException {
        Path d = Path.of("/proc/" + pid + "/task/" + tid);
        Map<String, String> m = new TreeMap<>();
        for (String line : Files.readAllLines(d.resolve("status"))) {
            String key = line.split(":")[0];
            if (List.of("Name", "Tgid", "Pid", "PPid", "TracerPid", "Uid", "Gid", "NSpid", "SigPnd", "ShdPnd", "SigBlk",
                    "SigIgn", "SigCgt", "CapEff", "Cpus_allowed_list", "Seccomp").contains(key)
                    || key.equals("State") && blocked) {
                m.put("status." + key, line);
            }
        }
        String stat = Files.readString(d.resolve("stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        // state ppid pgrp session tty_nr tpgid; priority nice num_threads; starttime; rt_priority policy
        int[] stable = {1, 2, 3, 4, 5, 15, 16, 17, 19, 37, 38};
        for (int i : stable) {
            m.put("stat." + (i + 3), f[i]);
        }
        if (blocked) {
            m.put("stat.3", f[0]);
        }
        return m;
    }

    private static Map<String, Map<String, String>> observeThreads(int pid) throws IOException {
        Map<String, Map<String, String>> all = new TreeMap<>();
        for (String tid : tids(pid)) {
            String name = Files.readString(Path.of("/proc/" + pid + "/task/" + tid + "/comm")).strip();
            boolean blocked = name.startsWith("v-") || name.startsWith("r-") || name.startsWith("n-");
            all.put(tid, observeThread(pid, tid, blocked));
        }
        return all;
    }

    private static boolean allBlocked(int pid) throws IOException {
        for (String tid : tids(pid)) {
            String name = Files.readString(Path.of("/proc/" + pid + "/task/" + tid + "/comm")).strip();
            String stat = Files.readString(Path.of("/proc/" + pid + "/task/" + tid + "/stat"));
            boolean waits = name.startsWith("v-") || name.startsWith("r-") || name.startsWith("n-");
            if (waits && !stat.substring(stat.lastIndexOf(')') + 2).startsWith("S")) {
                return false;
            }
        }
        return true;
    }

    @Test
    void dumpLeavingRunningLeavesEveryThreadAsItWas() throws Exception {
        try (Target t = start("--states=vvrrncc")) {
            await().atMost(Duration.ofSeconds(10)).until(() -> allBlocked(t.pid()));
            Map<String, Map<String, String>> before = observeThreads(t.pid());
            Checkpoint.dump(t.pid(), tmp.resolve("img1"), true);
            await().atMost(Duration.ofSeconds(10)).until(() -> allBlocked(t.pid()));
            Map<String, Map<String, String>> after = observeThreads(t.pid());
            assertEquals(before.keySet(), after.keySet(), "the same threads");
            for (String tid : before.keySet()) {
                assertEquals(before.get(tid), after.get(tid), "thread " + tid);
            }

            Checkpoint.dump(t.pid(), tmp.resolve("img2"), true);
            ImageDir a = ImageDir.open(tmp.resolve("img1"));
            ImageDir b = ImageDir.open(tmp.resolve("img2"));
            for (String tid : before.keySet()) {
                core_entry ca = a.core(Integer.parseInt(tid));
                core_entry cb = b.core(Integer.parseInt(tid));
                String name = ca.getThreadCore().getComm();
                if (name.startsWith("v-") || name.startsWith("r-")) {
                    // blocked in futex or read before, restarted by the kernel after: the same registers
                    assertEquals(ca.getThreadInfo().getGpregs(), cb.getThreadInfo().getGpregs(), "registers of " + name);
                    assertEquals(StateComparisonTest.withoutInUseBits(ca), StateComparisonTest.withoutInUseBits(cb),
                            "FPU state of " + name);
                }
                thread_core_entry ta = ca.getThreadCore();
                thread_core_entry tb = cb.getThreadCore();
                assertEquals(ta.getBlkSigset(), tb.getBlkSigset(), "mask of " + name);
                assertEquals(ta.getSas(), tb.getSas(), "altstack of " + name);
                assertEquals(ta.getSignalsP(), tb.getSignalsP(), "pending signals of " + name);
                assertEquals(ta.getFutexRla(), tb.getFutexRla(), "robust list of " + name);
                assertEquals(ta.getRseqEntry(), tb.getRseqEntry(), "rseq of " + name);
                assertEquals(ca.getThreadInfo().getClearTidAddr(), cb.getThreadInfo().getClearTidAddr(),
                        "clear-child-tid of " + name);
                assertEquals(ca.getThreadInfo().getGpregs().getFsBase(), cb.getThreadInfo().getGpregs().getFsBase(),
                        "TLS of " + name);
            }
            assertFalse(verdict(t).isEmpty());
            assertEquals("PASS", Files.readString(tmp.resolve("result")).strip());
        }
    }
}
