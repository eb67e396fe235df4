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
