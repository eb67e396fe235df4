package dev.cryo.engine.mem;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A set of pages as sorted, disjoint, non-adjacent address ranges [start, end), page aligned. Immutable; the
 * set operations walk both operands once. The dirty-page trackers answer with these, and an incremental dump
 * computes what to write and what to leave in the parent with them.
 */
public final class PageRanges {
    public static final PageRanges EMPTY = new PageRanges(new long[0], new long[0]);

    private final long[] starts;
    private final long[] ends;

    private PageRanges(long[] starts, long[] ends) {
        this.starts = starts;
        this.ends = ends;
    }

    /** Collects ranges added in any order; overlapping and adjacent ones merge. */
    public static final class Builder {
        private long[] s = new long[16], e = new long[16];
        private int n;
        private boolean sorted = true;

        public Builder add(long start, long end) {
            if (end <= start) {
                return this;
            }
            if (n > 0 && start < s[n - 1]) {
                sorted = false;
            }
            if (n == s.length) {
                s = Arrays.copyOf(s, n * 2);
                e = Arrays.copyOf(e, n * 2);
            }
            s[n] = start;
            e[n] = end;
            n++;
            return this;
        }

        public Builder add(PageRun r) {
            return add(r.address(), r.end());
        }

        public Builder addPages(long start, long pages) {
            return add(start, start + (pages << 12));
        }

        public PageRanges build() {
            long[] ss = Arrays.copyOf(s, n), ee = Arrays.copyOf(e, n);
            if (!sorted) {
                Integer[] order = new Integer[n];
                for (int i = 0; i < n; i++) {
                    order[i] = i;
                }
                Arrays.sort(order, (a, b) -> Long.compare(s[a], s[b]));
                for (int i = 0; i < n; i++) {
                    ss[i] = s[order[i]];
                    ee[i] = e[order[i]];
                }
            }
            long[] os = new long[n], oe = new long[n];
            int m = 0;
            for (int i = 0; i < n; i++) {
                if (m > 0 && ss[i] <= oe[m - 1]) {
                    oe[m - 1] = Math.max(oe[m - 1], ee[i]);
                } else {
                    os[m] = ss[i];
                    oe[m] = ee[i];
                    m++;
                }
            }
            return new PageRanges(Arrays.copyOf(os, m), Arrays.copyOf(oe, m));
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    public static PageRanges of(long start, long end) {
        return builder().add(start, end).build();
    }

    public static PageRanges ofRuns(List<PageRun> runs) {
        Builder b = builder();
        runs.forEach(b::add);
        return b.build();
    }

    public int size() {
        return starts.length;
    }

    public boolean isEmpty() {
        return starts.length == 0;
    }

    public long start(int i) {
        return starts[i];
    }

    public long end(int i) {
        return ends[i];
    }

    public long pages() {
        long p = 0;
        for (int i = 0; i < starts.length; i++) {
            p += (ends[i] - starts[i]) >>> 12;
        }
        return p;
    }

    /** Whether every page of [start, end) is in the set. */
    public boolean containsAll(long start, long end) {
        int i = floor(start);
        return i >= 0 && ends[i] >= end;
    }

    public boolean contains(long address) {
        int i = floor(address);
        return i >= 0 && ends[i] > address;
    }

    /** Index of the last range starting at or before {@code address}, or -1. */
    private int floor(long address) {
        int lo = 0, hi = starts.length - 1, found = -1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (starts[mid] <= address) {
                found = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return found;
    }

    public PageRanges union(PageRanges o) {
        Builder b = builder();
        int i = 0, j = 0;
        while (i < size() || j < o.size()) {
            if (j >= o.size() || (i < size() && starts[i] <= o.starts[j])) {
                b.add(starts[i], ends[i]);
                i++;
            } else {
                b.add(o.starts[j], o.ends[j]);
                j++;
            }
        }
        return b.build();
    }

    public PageRanges intersect(PageRanges o) {
        Builder b = builder();
        int i = 0, j = 0;
        while (i < size() && j < o.size()) {
            long s = Math.max(starts[i], o.starts[j]), e = Math.min(ends[i], o.ends[j]);
            if (s < e) {
                b.add(s, e);
            }
            if (ends[i] < o.ends[j]) {
                i++;
            } else {
                j++;
            }
        }
        return b.build();
    }

    public PageRanges minus(PageRanges o) {
        Builder b = builder();
        int j = 0;
        for (int i = 0; i < size(); i++) {
            long cur = starts[i], end = ends[i];
            while (j < o.size() && o.ends[j] <= cur) {
                j++;
            }
            int k = j;
            while (k < o.size() && o.starts[k] < end) {
                if (o.starts[k] > cur) {
                    b.add(cur, o.starts[k]);
                }
                cur = Math.max(cur, o.ends[k]);
                if (o.ends[k] >= end) {
                    break;
                }
                k++;
            }
            if (cur < end) {
                b.add(cur, end);
            }
        }
        return b.build();
    }

    /** The ranges as page runs, each split at {@code maxPages} pages. */
    public List<PageRun> runs() {
        List<PageRun> out = new ArrayList<>(starts.length);
        for (int i = 0; i < starts.length; i++) {
            long a = starts[i];
            while (a < ends[i]) {
                int pages = (int) Math.min((ends[i] - a) >>> 12, Integer.MAX_VALUE >>> 12);
                out.add(new PageRun(a, pages));
                a += (long) pages << 12;
            }
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PageRanges p && Arrays.equals(starts, p.starts) && Arrays.equals(ends, p.ends);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(starts) * 31 + Arrays.hashCode(ends);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < starts.length; i++) {
            sb.append(i == 0 ? "" : " ").append(Long.toHexString(starts[i])).append('-').append(Long.toHexString(ends[i]));
        }
        return sb.append(']').toString();
    }
}
