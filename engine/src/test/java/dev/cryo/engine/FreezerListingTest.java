package dev.cryo.engine;

import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.ptrace.Freezer;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * A listing of /proc/PID/task can skip a live thread when another thread exits while it is read (the kernel walks
 * the list by position). A freeze that believed such a listing would leave that thread running through the dump,
 * free to change memory while it is read. The freeze checks the last listing against the process's thread count.
 */
@RootWithPtrace
class FreezerListingTest {
    @TempDir
    Path tmp;

    private final ProcFs proc = new ProcFs();

    @Test
    void aListingThatSkippedAThreadIsListedAgain() throws Exception {
        try (Target t = Target.start(Path.of("/usr/bin/env"), tmp.resolve("out.txt"),
                "CRYO_FX_READY=" + tmp.resolve("ready"), ThreadsRoundTripTest.fixture("threads-state").toString(),
                "--threads=4")) {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(tmp.resolve("ready")));
            int pid = t.pid();
            List<Integer> all = proc.tasks(pid);
            assertEquals(5, all.size());
            int skipped = all.get(all.size() - 1);
            AtomicInteger listings = new AtomicInteger();
            Freezer.ThreadList missing = new Freezer.ThreadList() {
                @Override
                public List<Integer> tids() throws IOException {
                    // the first two listings lose the same thread, as a concurrent exit can make them do
                    return listings.incrementAndGet() <= 2
                            ? all.stream().filter(tid -> tid != skipped).toList() : proc.tasks(pid);
                }

                @Override
                public int count() throws IOException {
                    return proc.stat(pid).numThreads();
                }
            };
            List<Integer> frozen = Freezer.freezeAll(pid, Ptrace.O_TRACESYSGOOD, missing);
            try {
                assertEquals(Set.copyOf(all), Set.copyOf(frozen), "every thread frozen, the skipped one too");
                assertEquals('t', proc.stat(skipped).state(), "thread " + skipped + " is in a ptrace stop");
            } finally {
                for (int tid : frozen) {
                    try {
                        Ptrace.detach(tid, 0);
                    } catch (SyscallException ignored) {
                        // gone
                    }
                }
            }
            assertFalse(listings.get() < 3, "the skipping listings were not believed");
        }
    }
}
