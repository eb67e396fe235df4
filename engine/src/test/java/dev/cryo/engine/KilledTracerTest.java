package dev.cryo.engine;

import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.ptrace.Freezer;
import dev.cryo.engine.ptrace.HalfWay;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.SyscallSite;
import dev.cryo.engine.ptrace.Tracer;
import dev.cryo.engine.ptrace.Trampolines;
import dev.cryo.engine.resource.ThreadState;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Cryo killed in the middle of a remote syscall: its tracer thread ends with every thread of the target half-way
 * through a call, and the kernel detaches them there. Each must run on exactly as it was, which only the signal frame
 * under its stack gives it: the leader was in sigsuspend (restarted, its mask its own), the others spin checking
 * their vector registers (a changed one fails the verdict, a wrong general register crashes them).
 */
@RootWithPtrace
class KilledTracerTest {
    static final long GETPPID = 110;
    private static final ProcFs PROC = new ProcFs();

    @TempDir
    Path tmp;

    @ParameterizedTest
    @EnumSource(HalfWay.Moment.class)
    void aTracerThatDiesInTheMiddleOfARemoteCallLeavesEveryThreadAsItWas(HalfWay.Moment moment) throws Exception {
        try (Target t = ThreadsRoundTripTest.startFixture(tmp, "xstate", "--threads=2")) {
            int pid = t.pid();
            Map<String, String> before = observe(pid);
            List<Boolean> armed = new ArrayList<>();
            Tracer doomed = new Tracer("doomed-tracer");
            doomed.call(() -> {
                try {
                    List<Integer> tids = Freezer.freezeAll(pid, Ptrace.O_TRACESYSGOOD, () -> PROC.tasks(pid));
                    RemoteMemory memory = new RemoteMemory(pid);
                    var maps = ProcFs.parseMaps(Files.readString(Path.of("/proc/" + pid + "/maps")));
                    Trampolines tramp = Trampolines.find(memory, maps);
                    assertNotNull(tramp, "glibc has a syscall; ret and __restore_rt");
                    long site = SyscallSite.inVdso(memory, maps);
                    for (int tid : tids) {
                        ThreadState th = ThreadState.frozen(tid);
                        th.read();
                        var call = th.remote(site);
                        armed.add(th.armFrame(new RemoteMemory(tid), tramp, th.frameTop(), null, maps));
                        HalfWay.leave(call, moment, GETPPID, th.sigmask());
                        Tracer.leaveStuck(tid); // the tracer's end lets it go
                    }
                } catch (Exception e) {
                    throw new CryoException(e.toString(), e);
                }
                return null;
            });
            doomed.close(); // the tracer thread ends: what SIGKILL does to Cryo's
            assertEquals(List.of(true, true, true), armed, "every thread's calls had a frame");
            await().atMost(Duration.ofSeconds(10)).until(() -> untraced(pid));
            assertTrue(t.alive(), "the target lives on");
            assertEquals(before, observe(pid), "masks, maps and threads as they were");
            assertEquals("PASS", ThreadsRoundTripTest.verdict(tmp, t), "every thread's registers as they were");
        }
    }

    private static boolean untraced(int pid) throws Exception {
        for (String tid : PROC.tasks(pid).stream().map(String::valueOf).toList()) {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/task/" + tid + "/status"))) {
                if (line.startsWith("TracerPid:") && !line.split("\\s+")[1].equals("0")) {
                    return false;
                }
            }
        }
        return true;
    }

    /** Each thread's signal mask, the process's dispositions and its maps. */
    private static Map<String, String> observe(int pid) throws Exception {
        Map<String, String> m = new TreeMap<>();
        for (int tid : PROC.tasks(pid)) {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/task/" + tid + "/status"))) {
                if (line.startsWith("SigBlk:") || line.startsWith("SigIgn:") || line.startsWith("SigCgt:")) {
                    m.put(tid + " " + line.split(":")[0], line.split(":\\s*")[1]);
                }
            }
        }
        m.put("maps", Files.readString(Path.of("/proc/" + pid + "/maps")));
        return m;
    }
}
