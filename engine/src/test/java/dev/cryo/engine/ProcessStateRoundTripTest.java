package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Programs;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Memory, signals, pipes and sleeps: each program checks its own state and prints it. */
@RootWithPtrace
class ProcessStateRoundTripTest {
    @TempDir
    Path tmp;

    private Target dumpAndRestore(Target t) throws Exception {
        Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
        await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
        assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
        assertTrue(t.alive(), "restored pid " + t.pid() + " runs");
        return t;
    }

    @Test
    void heapMmapAndMappedFileSurvive() throws Exception {
        Path exe = CProgram.compile(tmp, "memory", Programs.MEMORY);
        byte[] data = new byte[4 * 4096];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 3);
        }
        Path file = tmp.resolve("data.bin");
        Files.write(file, data);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"), file.toString())) {
            t.awaitLines(2);
            dumpAndRestore(t);
            int before = t.lines().size();
            t.awaitLines(before + 3);
            List<String> lines = t.lines();
            for (int i = 0; i < lines.size(); i++) {
                assertEquals(i + " ok", lines.get(i));
            }
        }
    }

    /** The OOM score adjustment the program was given comes back (raised: no CAP_SYS_RESOURCE needed). */
    @Test
    void oomScoreAdjustmentSurvives() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            Path adj = Path.of("/proc/" + t.pid() + "/oom_score_adj");
            Files.writeString(adj, "613");
            dumpAndRestore(t);
            assertEquals("613", Files.readString(adj).strip(), "the restored process's oom_score_adj");
        }
    }

    /** The audit login uid the program set for itself comes back (the kernel takes it only from the task itself). */
    @Test
    void loginUidSurvives() throws Exception {
        if (!Files.exists(Path.of("/proc/self/loginuid"))) {
            System.out.println("SKIPPED: this kernel has no audit login uid (/proc/self/loginuid)");
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/loginuid")),
                "this kernel has no audit login uid (/proc/self/loginuid)");
        try (Target t = Target.start(Path.of("/bin/sh"), tmp.resolve("out.txt"), "-c",
                "if echo 1000 > /proc/self/loginuid; then echo set; else echo refused; fi; exec sleep 600")) {
            t.awaitLines(1);
            if (!"set".equals(t.lines().get(0))) {
                System.out.println("SKIPPED: the kernel refuses to set the login uid here (audit made it immutable)");
            }
            org.junit.jupiter.api.Assumptions.assumeTrue("set".equals(t.lines().get(0)),
                    "the kernel refuses to set the login uid here (audit made it immutable)");
            Path loginuid = Path.of("/proc/" + t.pid() + "/loginuid");
            assertEquals("1000", Files.readString(loginuid).strip());
            dumpAndRestore(t);
            assertEquals("1000", Files.readString(loginuid).strip(), "the restored process's loginuid");
        }
    }

    @Test
    void handlersBlockedAndPendingSignalsSurvive() throws Exception {
        Path exe = CProgram.compile(tmp, "signals", Programs.SIGNALS);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(2);
            dumpAndRestore(t);
            t.awaitLines(t.lines().size() + 2);
            assertTrue(last(t).endsWith("usr1=0 usr2=0"), last(t));
            ProcessHandle.of(t.pid()).orElseThrow();
            new ProcessBuilder("kill", "-USR1", Integer.toString(t.pid())).start().waitFor();
            await().atMost(Duration.ofSeconds(10)).until(() -> last(t).endsWith("usr1=1 usr2=0"));
            Files.createFile(tmp.resolve("unblock"));
            await().atMost(Duration.ofSeconds(10)).until(() -> last(t).endsWith("usr1=1 usr2=1"));
        }
    }

    @Test
    void processBlockedInReadOnItsOwnPipeWakesWithItsBufferedBytes() throws Exception {
        Path exe = CProgram.compile(tmp, "pipe", Programs.PIPE);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            dumpAndRestore(t);
            kill("-USR1", t.pid());
            t.awaitLines(2);
            kill("-USR1", t.pid());
            t.awaitLines(3);
            assertEquals(List.of("ready", "0 x abc", "1 x def"), t.lines());
        }
    }

    @Test
    void longNanosleepIsResumed() throws Exception {
        Path exe = CProgram.compile(tmp, "sleeper", Programs.LONG_SLEEP);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(2);
            dumpAndRestore(t);
            int before = t.lines().size();
            t.awaitLines(before + 2);
            CounterRoundTripTest.assertCounts(t.lines());
        }
    }

    @Test
    void filesKeepOffsetsFlagsAndAppendMode() throws Exception {
        Path exe = CProgram.compile(tmp, "files", Programs.FILES);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(2);
            dumpAndRestore(t);
            int before = t.lines().size();
            t.awaitLines(before + 3);
            List<String> lines = t.lines();
            for (int i = 0; i < lines.size(); i++) {
                assertTrue(lines.get(i).matches(i + " ro@2=2 rw@4 dir=\\d+"), lines.get(i));
            }
            List<String> log = Files.readAllLines(tmp.resolve("append.log"));
            for (int i = 0; i < log.size(); i++) {
                assertEquals(Integer.toString(i), log.get(i));
            }
        }
    }

    static void kill(String sig, int pid) throws Exception {
        new ProcessBuilder("kill", sig, Integer.toString(pid)).start().waitFor();
    }

    private static String last(Target t) throws Exception {
        List<String> l = t.lines();
        return l.isEmpty() ? "" : l.get(l.size() - 1);
    }
}
