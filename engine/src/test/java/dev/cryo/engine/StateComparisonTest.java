package dev.cryo.engine;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Programs;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.core_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A process blocked in read() is compared before its dump and after its restore: what /proc shows, and what a
 * second dump (-R) of the restored process records (registers, FPU state, signal handlers, memory layout, files).
 */
@RootWithPtrace
class StateComparisonTest {
    @TempDir
    Path tmp;

    /** What /proc says about a process, in a form that compares field by field. */
    static Map<String, String> observe(int pid) throws IOException {
        Path d = Path.of("/proc/" + pid);
        Map<String, String> m = new TreeMap<>();
        m.put("maps", Files.readString(d.resolve("maps")));
        m.put("limits", Files.readString(d.resolve("limits")));
        m.put("cwd", Files.readSymbolicLink(d.resolve("cwd")).toString());
        m.put("root", Files.readSymbolicLink(d.resolve("root")).toString());
        m.put("exe", Files.readSymbolicLink(d.resolve("exe")).toString());
        m.put("comm", Files.readString(d.resolve("comm")));
        m.put("personality", Files.readString(d.resolve("personality")));
        for (String line : Files.readAllLines(d.resolve("status"))) {
            String key = line.split(":")[0];
            if (List.of("Umask", "Uid", "Gid", "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "CapEff",
                    "NoNewPrivs", "Seccomp").contains(key)) {
                // SigQ's first number counts the queued signals of every process of the user, not this one's (those
                // are SigPnd and ShdPnd): only its limit belongs to the process
                m.put("status." + key, key.equals("SigQ") ? line.substring(line.indexOf('/')) : line);
            }
        }
        try (Stream<Path> fds = Files.list(d.resolve("fd"))) {
            for (Path fd : fds.sorted().toList()) {
                String n = fd.getFileName().toString();
                String info = Files.readAllLines(d.resolve("fdinfo/" + n)).stream()
                        .filter(l -> l.startsWith("pos:") || l.startsWith("flags:")).toList().toString();
                // a new pipe has a new inode
                m.put("fd." + n, Files.readSymbolicLink(fd).toString().replaceAll("pipe:\\[\\d+]", "pipe") + " " + info);
            }
        }
        return m;
    }

    static dev.cryo.image.proto.user_x86_fpregs_entry withoutInUseBits(core_entry c) {
        var f = c.getThreadInfo().getFpregs().toBuilder();
        f.getXsaveBuilder().setXstateBv(0);
        return f.build();
    }

    @Test
    void restoredProcessMatchesTheDumpedOne() throws Exception {
        Path exe = CProgram.compile(tmp, "state", Programs.STATE);
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(1);
            // blocked in read() from here on
            await().atMost(Duration.ofSeconds(5)).until(() -> Files.readString(Path.of("/proc/" + t.pid() + "/wchan"))
                    .contains("pipe_read"));
            Map<String, String> before = observe(t.pid());
            Checkpoint.dump(t.pid(), tmp.resolve("img1"), false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img1")));
            await().atMost(Duration.ofSeconds(5)).until(() -> Files.readString(Path.of("/proc/" + t.pid() + "/wchan"))
                    .contains("pipe_read"));
            Map<String, String> after = observe(t.pid());
            for (String key : before.keySet()) {
                assertEquals(before.get(key), after.get(key), key);
            }
            assertEquals(before.keySet(), after.keySet());

            Checkpoint.dump(t.pid(), tmp.resolve("img2"), true);
            ImageDir a = ImageDir.open(tmp.resolve("img1"));
            ImageDir b = ImageDir.open(tmp.resolve("img2"));
            core_entry ca = a.core(t.pid());
            core_entry cb = b.core(t.pid());
            assertEquals(ca.getThreadInfo().getGpregs(), cb.getThreadInfo().getGpregs(), "registers");
            // xstate_bv may differ: a CPU may report a component in its initial (all-zero) state as not in use
            assertEquals(withoutInUseBits(ca), withoutInUseBits(cb), "FPU/SSE/AVX state");
            assertEquals(ca.getTc().getSigactionsList(), cb.getTc().getSigactionsList(), "signal handlers");
            assertEquals(ca.getTc().getBlkSigset(), cb.getTc().getBlkSigset(), "blocked signals");
            assertEquals(ca.getTc().getRlimits(), cb.getTc().getRlimits(), "rlimits");
            assertEquals(ca.getThreadCore().getRseqEntry(), cb.getThreadCore().getRseqEntry(), "rseq");
            assertEquals(ca.getThreadCore().getFutexRla(), cb.getThreadCore().getFutexRla(), "robust futex list");
            assertEquals(a.mm(t.pid()).toBuilder().clearMmSavedAuxv().build().getVmasList(),
                    b.mm(t.pid()).getVmasList(), "memory layout");
            assertEquals(a.mm(t.pid()).getMmSavedAuxvList(), b.mm(t.pid()).getMmSavedAuxvList(), "auxv");
            assertEquals(a.fdinfo(a.ids(t.pid()).getFilesId()), b.fdinfo(b.ids(t.pid()).getFilesId()), "fds");
            assertEquals(a.fs(t.pid()), b.fs(t.pid()), "cwd, root, umask");

            ProcessStateRoundTripTest.kill("-USR1", t.pid());
            t.awaitLines(2);
            assertEquals("0", t.lines().get(1));
        }
    }
}
