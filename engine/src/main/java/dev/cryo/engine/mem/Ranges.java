package dev.cryo.engine.mem;

import java.util.ArrayList;
import java.util.List;

/**
 * Address ranges as {@code [start, end)} pairs: the set operations a restore needs to tell which pages a task keeps,
 * drops or gets. Inputs are left as they are; outputs are new, sorted lists.
 */
public final class Ranges {
    private Ranges() {
    }

    /** The same addresses as sorted, disjoint ranges: overlapping and touching ones joined, empty ones dropped. */
    public static List<long[]> union(List<long[]> ranges) {
        List<long[]> sorted = new ArrayList<>();
        for (long[] r : ranges) {
            if (r[1] > r[0]) {
                sorted.add(r);
            }
        }
        sorted.sort(PageInstaller.BY_START);
        List<long[]> out = new ArrayList<>();
        long[] last = null;
        for (long[] r : sorted) {
            if (last != null && r[0] <= last[1]) {
                last[1] = Math.max(last[1], r[1]);
            } else {
                last = new long[]{r[0], r[1]};
                out.add(last);
            }
        }
        return out;
    }

    /** The addresses in both; {@code a} and {@code b} sorted and disjoint. */
    public static List<long[]> intersect(List<long[]> a, List<long[]> b) {
        List<long[]> out = new ArrayList<>();
        int i = 0, j = 0;
        while (i < a.size() && j < b.size()) {
            long start = Math.max(a.get(i)[0], b.get(j)[0]), end = Math.min(a.get(i)[1], b.get(j)[1]);
            if (start < end) {
                out.add(new long[]{start, end});
            }
            if (a.get(i)[1] < b.get(j)[1]) {
                i++;
            } else {
                j++;
            }
        }
        return out;
    }

    /**
     * The addresses of {@code from} outside {@code holes}: each range of {@code from} cut where holes cover it, never
     * joined with another. {@code from} sorted by start; {@code holes} sorted and disjoint.
     */
    public static List<long[]> minus(List<long[]> from, List<long[]> holes) {
        List<long[]> out = new ArrayList<>();
        int j = 0;
        for (long[] r : from) {
            long at = r[0];
            while (j < holes.size() && holes.get(j)[1] <= at) {
                j++;
            }
            for (int k = j; k < holes.size() && holes.get(k)[0] < r[1] && at < r[1]; k++) {
                if (holes.get(k)[0] > at) {
                    out.add(new long[]{at, holes.get(k)[0]});
                }
                at = Math.max(at, holes.get(k)[1]);
            }
            if (at < r[1]) {
                out.add(new long[]{at, r[1]});
            }
        }
        return out;
    }
}
