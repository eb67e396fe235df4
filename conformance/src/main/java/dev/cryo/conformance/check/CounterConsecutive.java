package dev.cryo.conformance.check;

import static org.awaitility.Awaitility.await;

import dev.cryo.conformance.cases.Fixture.Output;
import dev.cryo.conformance.proc.ProcSnapshot;
import dev.cryo.conformance.run.Run;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.core.ConditionTimeoutException;

/**
 * The counter's output is 0, 1, 2, ... with no gap, repeat or restart. A line-buffered counter must
 * also go on counting after every cycle; a fully buffered one is judged on the whole file at the end.
 */
public final class CounterConsecutive implements Check {

    @Override
    public String name() {
        return "counter";
    }

    @Override
    public void afterCycle(Run run, ProcSnapshot before, ProcSnapshot after) throws CheckFailure {
        if (run.testCase().fixture().output() != Output.COUNT_LINE_BUFFERED) {
            return;
        }
        Duration bound = run.timeouts().progress().plusMillis(3 * run.testCase().fixture().stepMillis());
        // counted from now: lines written between the last look and the freeze are the old process's
        int seen = run.outputLines().size();
        AtomicReference<String> broken = new AtomicReference<>(firstBreak(run.outputLines()));
        try {
            await("counter goes on after cycle " + run.cycle()).atMost(bound).pollInterval(Duration.ofMillis(20))
                    .until(() -> {
                        List<String> lines = run.outputLines();
                        broken.set(firstBreak(lines));
                        return broken.get() != null || lines.size() > seen;
                    });
        } catch (ConditionTimeoutException e) {
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": no new number within " + bound.toMillis()
                    + " ms (still " + run.outputLines().size() + " lines)");
        }
        if (broken.get() != null) {
            throw new CheckFailure(name(), "cycle " + run.cycle() + ": " + broken.get());
        }
    }

    @Override
    public void atEnd(Run run) throws CheckFailure {
        List<String> lines = run.outputLines();
        if (lines.isEmpty()) {
            throw new CheckFailure(name(), "the counter wrote no number at all");
        }
        String broken = firstBreak(lines);
        if (broken != null) {
            throw new CheckFailure(name(), broken);
        }
    }

    /** Where the count is not 0, 1, 2, ..., or null when it is. */
    static String firstBreak(List<String> lines) {
        for (int i = 0; i < lines.size(); i++) {
            if (!lines.get(i).equals(Integer.toString(i))) {
                return "line " + (i + 1) + " is '" + lines.get(i) + "', expected " + i
                        + (i > 0 ? " after " + lines.get(i - 1) : "");
            }
        }
        return null;
    }
}
