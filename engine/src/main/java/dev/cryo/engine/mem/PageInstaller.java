package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.engine.sys.Threads;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Puts a restore's pages into the new process from a {@link PageSource}. Pages of empty private anonymous VMAs go in with UFFDIO_COPY (no zero-fill
 * before the copy), split between threads when there are many, since page allocation and copy then run on
 * every core; the rest (file-backed and shared VMAs) with process_vm_writev in iovec batches.
 */
public final class PageInstaller {
    /** Bytes per UFFDIO_COPY call: large enough to be cheap, small enough for a progress bar. */
    static final long PIECE = 8L << 20;
    /** Below this many bytes one thread copies: a thread start costs more than it would save. */
    static final long PARALLEL_MIN = Long.getLong("cryo.restore.parallelMin", 32L << 20);
    /** Copying threads: {@code -Dcryo.restore.threads}, else up to two of the CPUs the restore has (not its pin's one). */
    static int threads() {
        return Integer.getInteger("cryo.restore.threads", Math.min(2, dev.cryo.engine.sys.CpuPin.processors()));
    }
    /** Below this many bytes a restore writes every page: a userfaultfd costs more to set up than it saves. */
    public static final long UFFD_MIN = Long.getLong("cryo.restore.uffdMin", 4L << 20);
    /** Orders by start address; a class, not a lambda: a restore's JVM is cold, and lambdas link slowly. */
    static final Comparator<long[]> BY_START = new Comparator<>() {
        @Override
        public int compare(long[] a, long[] b) {
            return Long.compare(a[0], b[0]);
        }
    };

    /** A stretch of one run: {@code length} bytes to {@code dst} from {@code srcOffset} in the source. */
    record Piece(long dst, long srcOffset, long length, boolean viaUffd) {
    }

    /** What went where; {@code repeatedBytes}: pages the runs name more than once, written once (the last). */
    public record Result(long uffdBytes, long writevBytes, int threads, int vmasRegistered, long repeatedBytes,
                         long comparedBytes, long unchangedBytes) {
    }

    private final RemoteMemory memory;
    private final UffdCopy uffd;
    /** Set when a thread failed: the others stop at their next piece instead of copying on into a lost cause. */
    private volatile boolean failed;

    /** @param uffd the process's userfaultfd, or null to write everything with process_vm_writev */
    public PageInstaller(RemoteMemory memory, UffdCopy uffd) {
        this.memory = memory;
        this.uffd = uffd;
    }

    /** Sorted, disjoint [start, end) ranges the process holds already with its creator's pages: see {@link #sharing}. */
    private List<long[]> inherited = List.of();
    /** The creator's pages: its runs (in address order, none twice) laid end to end in {@link #creatorSource}. */
    private List<PageRun> creatorRuns = List.of();
    private PageSource creatorSource;
    private long comparedBytes, unchangedBytes;

    /**
     * The process was forked by a task whose memory was restored first, from {@code runs} (in address order, no page
     * twice) laid end to end in {@code source}, and keeps the VMAs {@code ranges} ([start, end), sorted, disjoint) it
     * inherited: their pages are still the creator's, shared copy-on-write. A page of the image there that the
     * creator was given too is compared with the creator's copy and written only where they differ, so that a page
     * parent and child shared at the dump is one page again. Read from the images, not the process: reading a page
     * of it with process_vm_readv would unshare it (a read-only pin does), and /proc/PID/mem is slower.
     */
    public PageInstaller sharing(List<long[]> ranges, List<PageRun> runs, PageSource source) {
        this.inherited = ranges;
        this.creatorRuns = runs;
        this.creatorSource = source;
        return this;
    }

    /**
     * Copies {@code runs} (laid end to end from {@code source}) into the process. {@code emptyAnonVmas} are
     * the [start, end) of its private anonymous VMAs that receive pages and hold none yet.
     */
    public Result install(List<PageRun> runs, PageSource source, List<long[]> emptyAnonVmas)
            throws SyscallException, IOException {
        return install(runs, source, emptyAnonVmas, List.of());
    }

    /**
     * As {@link #install(List, PageSource, List)}, leaving out the pages that fall in {@code skipped} ([start,
     * end) ranges): CRIU's images hold the vDSO's pages, which are the running kernel's and cannot be written.
     */
    public Result install(List<PageRun> runs, PageSource source, List<long[]> emptyAnonVmas, List<long[]> skipped)
            throws SyscallException, IOException {
        List<long[]> ranges = new ArrayList<>();
        if (uffd != null) {
            for (long[] v : emptyAnonVmas) {
                if (uffd.register(v[0], v[1] - v[0])) {
                    ranges.add(v);
                }
            }
            ranges.sort(BY_START);
        }
        List<Piece> named = pieces(runs, ranges);
        if (!skipped.isEmpty()) {
            named = named.stream().filter(p -> skipped.stream().noneMatch(k -> p.dst() >= k[0] && p.dst() < k[1]))
                    .toList();
        }
        List<Piece> pieces = lastCopies(named);
        if (!inherited.isEmpty()) {
            pieces = changedOnly(pieces, source);
        }
        long uffdBytes = 0, writevBytes = 0;
        List<Piece> viaUffd = new ArrayList<>();
        for (Piece p : pieces) {
            if (p.viaUffd()) {
                viaUffd.add(p);
                uffdBytes += p.length();
            } else {
                writevBytes += p.length();
            }
        }
        int threads = uffdBytes >= PARALLEL_MIN ? Math.max(1, threads()) : 1;
        try (PageProgress progress = PageProgress.forCopy("Restoring memory", uffdBytes + writevBytes)) {
            List<List<Piece>> shares = split(viaUffd, uffdBytes, threads);
            List<Thread> workers = new ArrayList<>();
            Exception[] errors = new Exception[shares.size()];
            for (int i = 1; i < shares.size(); i++) {
                int n = i;
                Thread t = new Thread(() -> {
                    dev.cryo.engine.sys.CpuPin.unpinInherited(); // started by the restore's pinned thread
                    try {
                        copyShare(shares.get(n), source, progress);
                    } catch (SyscallException | IOException | RuntimeException e) {
                        failed = true;
                        errors[n] = e;
                    }
                }, "cryo-uffd-" + i);
                t.setDaemon(true);
                t.start();
                workers.add(t);
            }
            // a large copy uses every CPU the restore has, the calling thread's share too (no call in the task is
            // made meanwhile: its pin is not needed)
            boolean large = uffdBytes + writevBytes >= PARALLEL_MIN;
            if (large) {
                dev.cryo.engine.sys.CpuPin.unpinInherited();
            }
            try {
                copyShare(shares.get(0), source, progress);
                if (!failed) {
                    write(pieces, source, progress);
                }
            } catch (SyscallException | IOException | RuntimeException e) {
                failed = true;
                throw e;
            } finally {
                for (Thread t : workers) {
                    Threads.joinUninterruptibly(t);
                }
                if (large) {
                    dev.cryo.engine.sys.CpuPin.repin();
                }
            }
            for (Exception e : errors) {
                if (e instanceof SyscallException se) {
                    throw se;
                }
                if (e instanceof IOException ie) {
                    throw ie;
                }
                if (e instanceof RuntimeException re) {
                    throw re;
                }
            }
        }
        long repeated = -uffdBytes - writevBytes - unchangedBytes;
        for (Piece p : named) {
            repeated += p.length();
        }
        return new Result(uffdBytes, writevBytes, threads, ranges.size(), repeated, comparedBytes, unchangedBytes);
    }

    /**
     * The pieces, with those in {@link #inherited} ranges cut down to the pages that differ from the creator's copy
     * (or that the creator was not given), compared a staging buffer at a time.
     */
    private List<Piece> changedOnly(List<Piece> pieces, PageSource source) throws IOException {
        long[] offsets = new long[creatorRuns.size()]; // where each creator run starts in its source
        for (int i = 1; i < offsets.length; i++) {
            offsets[i] = offsets[i - 1] + creatorRuns.get(i - 1).bytes();
        }
        List<Piece> out = new ArrayList<>();
        NativeBuffer staging = null, theirs = null;
        long mineAt = 0, theirsAt = 0; // both images mapped: a differing page is told from its first bytes, unread
        for (Piece p : pieces) {
            if (p.viaUffd() || containing(inherited, p.dst()) == null) {
                out.add(p);
                continue;
            }
            if (staging == null && theirs == null && mineAt == 0) {
                mineAt = source.mapped();
                theirsAt = mineAt == 0 ? 0 : creatorSource.mapped();
                if (mineAt == 0 || theirsAt == 0) {
                    mineAt = 0;
                    staging = source.inPlace() ? null : PageSource.staging();
                    theirs = creatorSource.inPlace() ? null : NativeBuffer.allocate(PageSource.STAGE + 4096);
                }
            }
            long at = p.dst(), end = p.dst() + p.length();
            int k = firstRunEndingAfter(at);
            while (at < end) {
                PageRun r = k < creatorRuns.size() ? creatorRuns.get(k) : null;
                if (r == null || r.address() >= end) { // the creator has none of the rest
                    out.add(new Piece(at, p.srcOffset() + (at - p.dst()), end - at, false));
                    break;
                }
                if (r.address() > at) { // up to the creator's next run: none of its pages there
                    out.add(new Piece(at, p.srcOffset() + (at - p.dst()), r.address() - at, false));
                    at = r.address();
                }
                long stop = Math.min(Math.min(end, r.end()), at + PageSource.STAGE);
                int n = (int) (stop - at);
                long mineOffset = p.srcOffset() + (at - p.dst()), theirOffset = offsets[k] + (at - r.address());
                java.nio.ByteBuffer mine = view(mineAt != 0 ? mineAt + mineOffset
                        : source.bytesAt(mineOffset, n, staging), n);
                java.nio.ByteBuffer other = view(mineAt != 0 ? theirsAt + theirOffset
                        : creatorSource.bytesAt(theirOffset, n, theirs), n);
                int differing = -1; // start of the run of differing pages being gathered
                for (int off = 0; off <= n; off += 4096) {
                    boolean same = off < n && mine.slice(off, 4096).mismatch(other.slice(off, 4096)) < 0;
                    if (off < n && !same) {
                        if (differing < 0) {
                            differing = off;
                        }
                        continue;
                    }
                    if (differing >= 0) {
                        long from = at + differing;
                        out.add(new Piece(from, p.srcOffset() + (from - p.dst()), off - differing, false));
                        differing = -1;
                    }
                    if (same) {
                        unchangedBytes += 4096;
                    }
                }
                comparedBytes += n;
                at = stop;
                if (at >= r.end()) {
                    k++;
                }
            }
        }
        return out;
    }

    private static java.nio.ByteBuffer view(long address, int length) {
        return com.kenai.jffi.MemoryIO.getInstance().newDirectByteBuffer(address, length);
    }

    /** Index of the first creator run that ends after {@code at}. */
    private int firstRunEndingAfter(long at) {
        int lo = 0, hi = creatorRuns.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (creatorRuns.get(mid).end() <= at) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    private void copyShare(List<Piece> share, PageSource source, PageProgress progress)
            throws SyscallException, IOException {
        NativeBuffer arg = UffdCopy.copyArg();
        NativeBuffer staging = share.isEmpty() || source.inPlace() ? null : PageSource.staging();
        long step = source.inPlace() ? PIECE : PageSource.STAGE;
        for (Piece p : share) {
            for (long at = 0; at < p.length() && !failed; at += step) {
                long n = Math.min(step, p.length() - at);
                uffd.copy(p.dst() + at, source.bytesAt(p.srcOffset() + at, n, staging), n, arg);
                progress(progress, n);
            }
        }
    }

    /**
     * The pieces not for UFFDIO_COPY, in batches of pieces that lie end to end in the source (at most one
     * staging buffer, or IOV_MAX pieces, each).
     */
    private void write(List<Piece> pieces, PageSource source, PageProgress progress)
            throws SyscallException, IOException {
        long limit = source.inPlace() ? Long.MAX_VALUE : PageSource.STAGE;
        NativeBuffer staging = null;
        long[] addrs = new long[RemoteMemory.IOV_MAX], lens = new long[RemoteMemory.IOV_MAX];
        int n = 0;
        long batchStart = 0, batchBytes = 0;
        for (Piece whole : pieces) {
            if (whole.viaUffd()) {
                continue;
            }
            for (long at = 0; at < whole.length(); ) {
                long src = whole.srcOffset() + at;
                if (n > 0 && (src != batchStart + batchBytes || batchBytes == limit || n == addrs.length)) {
                    if (staging == null && !source.inPlace()) {
                        staging = PageSource.staging();
                    }
                    memory.transfer(true, source.bytesAt(batchStart, batchBytes, staging), addrs, lens, n);
                    progress(progress, batchBytes);
                    n = 0;
                }
                if (n == 0) {
                    batchStart = src;
                    batchBytes = 0;
                }
                long len = Math.min(whole.length() - at, limit - batchBytes);
                addrs[n] = whole.dst() + at;
                lens[n++] = len;
                batchBytes += len;
                at += len;
            }
        }
        if (n > 0) {
            if (staging == null && !source.inPlace()) {
                staging = PageSource.staging();
            }
            memory.transfer(true, source.bytesAt(batchStart, batchBytes, staging), addrs, lens, n);
            progress(progress, batchBytes);
        }
    }

    private static void progress(PageProgress progress, long bytes) {
        synchronized (progress) {
            progress.advance(bytes);
        }
    }

    /** Cuts each run where it enters or leaves one of the sorted, disjoint {@code ranges}. */
    static List<Piece> pieces(List<PageRun> runs, List<long[]> ranges) {
        List<Piece> out = new ArrayList<>();
        long offset = 0;
        for (PageRun r : runs) {
            long at = r.address(), end = r.end();
            while (at < end) {
                long[] in = containing(ranges, at);
                long stop;
                if (in != null) {
                    stop = Math.min(end, in[1]);
                } else {
                    long[] next = following(ranges, at);
                    stop = next == null ? end : Math.min(end, next[0]);
                }
                out.add(new Piece(at, offset + (at - r.address()), stop - at, in != null));
                at = stop;
            }
            offset += r.bytes();
        }
        return out;
    }

    /**
     * The pieces with every page named twice kept only where it is named last, as writing them all in order
     * would leave it (UFFDIO_COPY refuses a page that is there already). The common case, no page named twice,
     * returns {@code pieces} itself.
     */
    static List<Piece> lastCopies(List<Piece> pieces) {
        if (ascending(pieces)) {
            return pieces;
        }
        List<Piece> byAddress = new ArrayList<>(pieces);
        byAddress.sort(Comparator.comparingLong(Piece::dst));
        if (ascending(byAddress)) {
            return pieces;
        }
        java.util.TreeMap<Long, Long> covered = new java.util.TreeMap<>(); // start -> end, disjoint
        List<Piece> kept = new ArrayList<>();
        for (int i = pieces.size() - 1; i >= 0; i--) {
            Piece p = pieces.get(i);
            long end = p.dst() + p.length();
            List<Piece> parts = new ArrayList<>();
            long at = p.dst();
            var before = covered.floorEntry(at);
            if (before != null && before.getValue() > at) {
                at = before.getValue();
            }
            for (var c : covered.subMap(p.dst(), true, end, false).entrySet()) {
                if (c.getKey() > at) {
                    parts.add(new Piece(at, p.srcOffset() + (at - p.dst()), c.getKey() - at, p.viaUffd()));
                }
                at = Math.max(at, c.getValue());
            }
            if (at < end) {
                parts.add(new Piece(at, p.srcOffset() + (at - p.dst()), end - at, p.viaUffd()));
            }
            for (int j = parts.size() - 1; j >= 0; j--) {
                kept.add(parts.get(j));
            }
            // merge [p.dst, end) into the covered set
            long start = p.dst(), stop = end;
            if (before != null && before.getValue() >= start) {
                start = before.getKey();
                stop = Math.max(stop, before.getValue());
            }
            var inside = covered.subMap(start, true, stop, true);
            for (long e : inside.values()) {
                stop = Math.max(stop, e);
            }
            inside.clear();
            covered.put(start, stop);
        }
        java.util.Collections.reverse(kept);
        return kept;
    }

    /** Whether each piece starts at or after the end of the one before (so none overlap). */
    private static boolean ascending(List<Piece> pieces) {
        for (int i = 1; i < pieces.size(); i++) {
            Piece a = pieces.get(i - 1);
            if (pieces.get(i).dst() < a.dst() + a.length()) {
                return false;
            }
        }
        return true;
    }

    private static long[] containing(List<long[]> ranges, long at) {
        int i = floor(ranges, at);
        return i >= 0 && at < ranges.get(i)[1] ? ranges.get(i) : null;
    }

    private static long[] following(List<long[]> ranges, long at) {
        int i = floor(ranges, at) + 1;
        return i < ranges.size() ? ranges.get(i) : null;
    }

    /** Index of the last range starting at or before {@code at}, or -1. */
    private static int floor(List<long[]> ranges, long at) {
        int lo = 0, hi = ranges.size() - 1, found = -1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (ranges.get(mid)[0] <= at) {
                found = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return found;
    }

    /** {@code threads} shares of about equal bytes, cut at page boundaries. */
    static List<List<Piece>> split(List<Piece> pieces, long total, int threads) {
        List<List<Piece>> shares = new ArrayList<>();
        long quota = ((total / threads) + 4095) & ~4095L;
        List<Piece> share = new ArrayList<>();
        long inShare = 0;
        for (Piece p : pieces) {
            long at = 0;
            while (at < p.length()) {
                if (inShare == quota && shares.size() < threads - 1) {
                    shares.add(share);
                    share = new ArrayList<>();
                    inShare = 0;
                }
                long n = shares.size() < threads - 1 ? Math.min(p.length() - at, quota - inShare) : p.length() - at;
                share.add(new Piece(p.dst() + at, p.srcOffset() + at, n, true));
                inShare += n;
                at += n;
            }
        }
        shares.add(share);
        return shares;
    }
}
