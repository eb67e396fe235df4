package dev.cryo.conformance.check;

import java.util.ArrayList;
import java.util.List;

/** The rows only one side has, for a short failure message. */
record SnapshotDiff(List<String> onlyBefore, List<String> onlyAfter) {

    static SnapshotDiff of(List<String> before, List<String> after) {
        List<String> onlyBefore = new ArrayList<>(before);
        onlyBefore.removeAll(after);
        List<String> onlyAfter = new ArrayList<>(after);
        onlyAfter.removeAll(before);
        return new SnapshotDiff(onlyBefore, onlyAfter);
    }

    /** A read of the rows as they are now. */
    interface Reader {
        List<String> rows() throws Exception;
    }

    /** How long a differing tree is read again, and how often: far longer than any state held for a moment. */
    static final java.time.Duration SETTLE = java.time.Duration.ofSeconds(2), POLL = java.time.Duration.ofMillis(100);

    /**
     * Reads the rows again, every {@link #POLL} for up to {@link #SETTLE}, until they are {@code expected}: a
     * program may hold a state for a moment (a mask, an fd it opens and closes). Returns 0 once they are, else how
     * many reads found them still different.
     */
    static int stillDifferent(List<String> expected, Reader now) {
        java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
        try {
            org.awaitility.Awaitility.await().pollDelay(java.time.Duration.ZERO).pollInterval(POLL).atMost(SETTLE)
                    .until(() -> {
                        reads.incrementAndGet();
                        return of(expected, now.rows()).same();
                    });
            return 0;
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            return reads.get();
        }
    }

    boolean same() {
        return onlyBefore.isEmpty() && onlyAfter.isEmpty();
    }

    String describe(String what) {
        return what + " differ: before only " + firstFew(onlyBefore) + "; after only " + firstFew(onlyAfter);
    }

    private static String firstFew(List<String> rows) {
        if (rows.size() <= 3) {
            return rows.toString();
        }
        return rows.subList(0, 3) + " and " + (rows.size() - 3) + " more";
    }
}
