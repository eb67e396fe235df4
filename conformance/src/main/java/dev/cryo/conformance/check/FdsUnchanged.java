package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.run.Run;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;

/**
 * Every fd points at the same thing with the same flags after the cycle. Pipes and sockets get new
 * inodes on restore, so they compare by which fds share one.
 */
public final class FdsUnchanged implements Check {

    @Override
    public String name() {
        return "fds";
    }

    @Override
    public void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
        if (after.isEmpty()) {
            return;
        }
        List<String> expected = before.normalisedFds();
        SnapshotDiff diff = SnapshotDiff.of(expected, after.normalisedFds());
        if (diff.same()) {
            return;
        }
        // a program may hold an fd for a moment (opendir of /proc/self/fd, a file it reads and closes): read the
        // tree again for a while before calling it different; a lost or changed fd stays different
        AtomicInteger reads = new AtomicInteger();
        try {
            Awaitility.await().pollDelay(Duration.ZERO).pollInterval(SignalsUnchanged.POLL)
                    .atMost(SignalsUnchanged.SETTLE).until(() -> {
                        reads.incrementAndGet();
                        return SnapshotDiff.of(expected, run.probe().normalisedFds()).same();
                    });
        } catch (ConditionTimeoutException e) {
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": " + diff.describe("fds") + " (the same after "
                    + reads.get() + " more reads over " + SignalsUnchanged.SETTLE.toMillis() + " ms)");
        }
    }
}
