package dev.cryo.engine;

import dev.cryo.engine.resource.ThreadKernelView;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.core_entry;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the kernel's task iterator ({@link ThreadKernelView}) reads of each thread is what the threads' own calls and
 * /proc give: sigaltstack for every kind of altstack (none, set, in use by the handler the thread sits in
 * (SS_ONSTACK), set with SS_AUTODISARM), clear-child-tid, robust list, comm, nice, policy and priority.
 */
@RootWithPtrace
class ThreadKernelViewTest {
    @TempDir
    Path tmp;

    /** Root on a kernel with BTF (as every kernel this project runs on): the view must be there, not fall back. */
    @Test
    void theIteratorLoadsOnThisKernel() {
        Assumptions.assumeTrue(Files.exists(Path.of("/sys/kernel/btf/vmlinux")), () -> {
            System.out.println("SKIPPED: this kernel has no /sys/kernel/btf/vmlinux");
            return "no kernel BTF";
        });
        assertNull(ThreadKernelView.unavailable(), "why the view is not used");
    }

    /**
     * Both ways of matching rows to threads: by the kernel's pid (Cryo in the initial pid namespace) and by TLS base
     * (Cryo in a container, where the kernel's pids are not Cryo's).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"on", "tls"})
    void theIteratorGivesWhatTheThreadsOwnCallsGive(String mode) throws Exception {
        Assumptions.assumeTrue(ThreadKernelView.unavailable() == null, () -> {
            System.out.println("SKIPPED: " + ThreadKernelView.unavailable());
            return ThreadKernelView.unavailable();
        });
        try (Target t = ThreadsRoundTripTest.startFixture(tmp, "threads-state", "--states=caddcvnrsau")) {
            Path viewed = tmp.resolve("viewed"), called = tmp.resolve("called");
            System.setProperty("cryo.threads.kernel", mode);
            try {
                Checkpoint.dump(t.pid(), viewed, true);
            } finally {
                System.clearProperty("cryo.threads.kernel");
            }
            System.setProperty("cryo.threads.kernel", "off");
            try {
                Checkpoint.dump(t.pid(), called, true);
            } finally {
                System.clearProperty("cryo.threads.kernel");
            }
            assertTrue(Files.readString(viewed.resolve("dump.log")).contains("(bpf task iterator)"));
            assertTrue(Files.readString(called.resolve("dump.log")).contains("(remote calls"));
            ImageDir a = ImageDir.open(viewed), b = ImageDir.open(called);
            List<Integer> tids;
            try (Stream<Path> s = Files.list(Path.of("/proc/" + t.pid() + "/task"))) {
                tids = s.map(p -> Integer.parseInt(p.getFileName().toString())).sorted().toList();
            }
            int onStack = 0, disarming = 0, pending = 0, rseq = 0;
            for (int tid : tids) {
                core_entry ca = a.core(tid), cb = b.core(tid);
                String name = ca.getThreadCore().getComm();
                assertEquals(cb.getThreadCore().getSas(), ca.getThreadCore().getSas(), "altstack of " + name);
                // robust list, comm, scheduling, seccomp: the whole of the thread's own core alike
                assertEquals(cb.getThreadCore(), ca.getThreadCore(), "thread core of " + name);
                assertEquals(cb.getThreadInfo().getClearTidAddr(), ca.getThreadInfo().getClearTidAddr(),
                        "clear-child-tid of " + name);
                int flags = ca.getThreadCore().getSas().getSsFlags();
                onStack += flags == 1 ? 1 : 0;
                disarming += flags == (1 << 31) ? 1 : 0;
                // the row's pending set and rseq stand in for PEEKSIGINFO and GET_RSEQ_CONFIGURATION
                pending += ca.getThreadCore().getSignalsP().getSignalsCount() > 0 ? 1 : 0;
                rseq += ca.getThreadCore().hasRseqEntry() ? 1 : 0;
            }
            assertEquals(2, onStack, "threads in a handler on their altstack");
            assertEquals(2, disarming, "threads with SS_AUTODISARM");
            assertEquals(2, pending, "threads with a signal of their own pending (the two c)");
            assertEquals(b.core(t.pid()).getThreadCore().hasRseqEntry() ? tids.size() : 0, rseq,
                    "threads with rseq registered (every one, where glibc registers it)");

            Checkpoint.dump(t.pid(), tmp.resolve("img"), false);
            await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
            assertEquals(0, Checkpoint.restore(tmp.resolve("img")));
            assertEquals("PASS", ThreadsRoundTripTest.verdict(tmp, t));
        }
    }

    /** Each dump's link to the iterator is closed, also when the dump fails after it was made (before the freeze). */
    @Test
    void noLinkIsLeftOpen() throws Exception {
        Assumptions.assumeTrue(ThreadKernelView.unavailable() == null, () -> {
            System.out.println("SKIPPED: " + ThreadKernelView.unavailable());
            return ThreadKernelView.unavailable();
        });
        try (Target t = ThreadsRoundTripTest.startFixture(tmp, "threads-state", "--states=cvn")) {
            long before = bpfLinks();
            Checkpoint.dump(t.pid(), tmp.resolve("ok"), true);
            assertEquals(before, bpfLinks(), "bpf links open after a dump");
            System.setProperty("cryo.fault.step", "freeze");
            try {
                org.junit.jupiter.api.Assertions.assertThrows(CryoException.class,
                        () -> Checkpoint.dump(t.pid(), tmp.resolve("faulted"), true));
            } finally {
                System.clearProperty("cryo.fault.step");
            }
            assertEquals(before, bpfLinks(), "bpf links open after a dump that failed before the freeze");
            assertEquals("PASS", ThreadsRoundTripTest.verdict(tmp, t));
        }
    }

    private static long bpfLinks() throws java.io.IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().contains("bpf_link");
                } catch (java.io.IOException e) {
                    return false;
                }
            }).count();
        }
    }

    /** sigaltstack's flags as the kernel computes them from the task's own and the thread's stack pointer. */
    @Test
    void flagsAreReportedAsTheKernelDoes() {
        long sp = 0x7000_0000L, size = 0x4000;
        assertEquals(2, ThreadKernelView.reported(0, 0, 0, sp + 10), "no altstack: SS_DISABLE");
        assertEquals(0, ThreadKernelView.reported(0, sp, size, sp - 8), "below it: not on it");
        assertEquals(1, ThreadKernelView.reported(0, sp, size, sp + size), "its top is on it");
        assertEquals(0, ThreadKernelView.reported(0, sp, size, sp), "its base is not");
        assertEquals(1, ThreadKernelView.reported(0, sp, size, sp + 100), "within it");
        assertEquals(1 << 31, ThreadKernelView.reported(1 << 31, sp, size, sp + 100), "SS_AUTODISARM: never SS_ONSTACK");
        assertEquals((1 << 31) | 2, ThreadKernelView.reported(1 << 31, 0, 0, sp), "disabled, with SS_AUTODISARM kept");
    }
}
