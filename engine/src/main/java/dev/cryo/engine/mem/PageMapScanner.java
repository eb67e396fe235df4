package dev.cryo.engine.mem;

import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;

import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * /proc/PID/pagemap: which pages of a VMA are the process's own. A private mapping's page that is present or
 * swapped and not a file page was written by the process (anonymous or copied on write) and must be saved;
 * clean file pages come back from the file.
 *
 * <p>Where the kernel has the {@code PAGEMAP_SCAN} ioctl (6.7+) it answers a range at a time: the kernel
 * filters (present or swapped, not file) and returns runs, so a 1 GiB VMA costs one call instead of 262144
 * entries read and tested in Java. Runs the ioctl calls swapped-only are read again as raw entries, because
 * only the raw entry tells a real swapped page from a userfaultfd marker. Without the ioctl, raw entries.
 */
public final class PageMapScanner implements AutoCloseable {
    static final long PRESENT = 1L << 63, SWAPPED = 1L << 62, FILE_OR_SHARED = 1L << 61;
    /** PM_GUARD_REGION (6.14+): the entry is a guard marker that MADV_GUARD_INSTALL put there. */
    static final long GUARD_REGION = 1L << 58;

    static final long PAGEMAP_SCAN = 0xC0606610L;
    static final long PAGE_IS_FILE = 1 << 2, PAGE_IS_PRESENT = 1 << 3, PAGE_IS_SWAPPED = 1 << 4;
    static final int SCAN_ARG_SIZE = 96, REGION_SIZE = 24, REGIONS = 4096;
    static final int ENOTTY = 25, EINVAL = 22, AT_FDCWD = -100, O_RDONLY = 0, O_CLOEXEC = 0x80000;

    private final int pid;
    private final int fd;
    /**
     * The buffers of the last scanner closed, for the next one: a direct buffer is zeroed and faulted in when it is
     * made, ~130 KiB here, and the rehearsal's scanner thereby pays for the dump's.
     */
    private static final java.util.concurrent.atomic.AtomicReference<NativeBuffer[]> SPARE =
            new java.util.concurrent.atomic.AtomicReference<>();

    private NativeBuffer buffer;
    private NativeBuffer scanArg;
    private NativeBuffer regions;
    private boolean scan;

    public PageMapScanner(int pid) throws IOException {
        this(pid, true);
    }

    /** @param useScan whether to try the PAGEMAP_SCAN ioctl (false: raw entries only, as on kernels before 6.7) */
    public PageMapScanner(int pid, boolean useScan) throws IOException {
        this.pid = pid;
        NativeBuffer path = UffdWpTracker.cString("/proc/" + pid + "/pagemap");
        long r = Syscall.raw(Syscall.OPENAT, AT_FDCWD, path.address(), O_RDONLY | O_CLOEXEC, 0);
        java.lang.ref.Reference.reachabilityFence(path);
        if (r < 0) {
            throw new IOException("/proc/" + pid + "/pagemap: " + SyscallException.describe((int) -r));
        }
        this.fd = (int) r;
        this.scan = useScan;
        NativeBuffer[] spare = SPARE.getAndSet(null);
        if (spare != null) {
            buffer = spare[0];
            scanArg = spare[1];
            regions = spare[2];
        } else {
            buffer = NativeBuffer.allocate(8 * 4096);
        }
    }

    /** Whether the kernel answers with PAGEMAP_SCAN (false once it refused). */
    public boolean scanning() {
        return scan;
    }

    /** Guard regions met since the last {@link #takeGuards}, in address order. */
    private List<PageRun> guards = new ArrayList<>();

    /**
     * The guard regions ({@code MADV_GUARD_INSTALL}: pages that fault on any access, markers with no memory) among
     * the pages {@link #ownPages} went through since the last call: they are no pages to save, but the restore must
     * put them back.
     */
    public List<PageRun> takeGuards() {
        List<PageRun> found = guards;
        guards = new ArrayList<>();
        return found;
    }

    /**
     * Runs and guards of a range of private anonymous VMAs asked of the kernel in one scan ({@link #scanAhead}),
     * which {@link #ownPages} hands out VMA by VMA; [from, to) is the range.
     */
    private record Ahead(long from, long to, List<PageRun> runs, List<PageRun> guards) {
    }

    private final List<Ahead> ahead = new ArrayList<>();

    /**
     * Scans ahead, one PAGEMAP_SCAN per group, the private anonymous VMAs of {@code maps} that lie next to each
     * other in it (no other VMA between them, holes allowed: the kernel's walk skips them). A process's threads'
     * stacks, a JVM's heap and arenas are hundreds of such VMAs; each asked alone costs a call and a walk setup.
     * Later {@link #ownPages} of a VMA inside a group answer from it.
     *
     * @param scanned which VMAs the caller will ask for (the others break groups)
     */
    public void scanAhead(List<MapsEntry> maps, java.util.function.Predicate<MapsEntry> scanned) throws IOException {
        ahead.clear();
        if (!scan) {
            return;
        }
        for (int i = 0; i < maps.size(); ) {
            MapsEntry first = maps.get(i);
            if (!scanned.test(first) || mayHoldFilePages(first)) {
                i++;
                continue;
            }
            int j = i + 1;
            while (j < maps.size() && scanned.test(maps.get(j)) && !mayHoldFilePages(maps.get(j))) {
                j++;
            }
            if (j - i >= 2) {
                List<PageRun> runs = new ArrayList<>();
                guards.clear();
                if (!scanRuns(first.start(), maps.get(j - 1).end(), false, runs)) {
                    ahead.clear();
                    return;
                }
                ahead.add(new Ahead(first.start(), maps.get(j - 1).end(), runs, takeGuards()));
            }
            i = j;
        }
    }

    /** Runs of pages of {@code vma} to save, in address order. */
    public List<PageRun> ownPages(MapsEntry vma) throws IOException {
        for (Ahead a : ahead) {
            if (vma.start() >= a.from() && vma.end() <= a.to()) {
                guards = clip(a.guards(), vma.start(), vma.end());
                return clip(a.runs(), vma.start(), vma.end());
            }
        }
        List<PageRun> runs = new ArrayList<>();
        guards.clear(); // a scan that fell back to raw entries reads them again
        if (scan && scanRuns(vma.start(), vma.end(), mayHoldFilePages(vma), runs)) {
            return runs;
        }
        runs.clear();
        guards.clear();
        rawRuns(vma.start(), vma.pages(), runs);
        return runs;
    }

    /**
     * A private anonymous VMA holds anonymous pages and the zero page only, never a file page: its scan need not
     * ask, which spares the kernel a page lookup for every PTE (about a third of the scan's time).
     */
    static boolean mayHoldFilePages(MapsEntry vma) {
        return vma.shared() || vma.inode() != 0 || !vma.path().isEmpty() && !vma.path().startsWith("[");
    }

    /** The kernel's answer for [start, end); false when it has no PAGEMAP_SCAN (then never asked again). */
    private boolean scanRuns(long start, long end, boolean fileTest, List<PageRun> runs) throws IOException {
        if (scanArg == null) {
            scanArg = NativeBuffer.allocate(SCAN_ARG_SIZE);
            regions = NativeBuffer.allocate(REGIONS * REGION_SIZE);
        }
        long at = start;
        long runStart = -1, runEnd = -1;
        while (at < end) {
            NativeBuffer arg = scanArg;
            arg.clear();
            arg.putLong(0, SCAN_ARG_SIZE);
            arg.putLong(16, at);
            arg.putLong(24, end);
            arg.putLong(40, regions.address());
            arg.putLong(48, REGIONS);
            if (fileTest) {
                arg.putLong(64, PAGE_IS_FILE); // category_inverted: "not a file page"
                arg.putLong(72, PAGE_IS_FILE); // category_mask: must be not-file
            }
            arg.putLong(80, PAGE_IS_PRESENT | PAGE_IS_SWAPPED); // category_anyof_mask: present or swapped
            arg.putLong(88, PAGE_IS_SWAPPED); // return_mask: swapped runs are told apart (markers look swapped)
            long n = Syscall.raw(Syscall.IOCTL, fd, PAGEMAP_SCAN, arg.address());
            if (n < 0) {
                if (n == -ENOTTY || n == -EINVAL) {
                    scan = false;
                    return false;
                }
                throw new IOException("PAGEMAP_SCAN of " + Long.toHexString(at) + "-" + Long.toHexString(end)
                        + " failed: errno " + -n);
            }
            for (int i = 0; i < n; i++) {
                long s = regions.getLong(i * REGION_SIZE), e = regions.getLong(i * REGION_SIZE + 8);
                if ((regions.getLong(i * REGION_SIZE + 16) & PAGE_IS_SWAPPED) != 0) {
                    // only the raw entry shows a userfaultfd marker, which is no page
                    flush(runs, runStart, runEnd);
                    runStart = -1;
                    rawRuns(s, (int) ((e - s) >>> 12), runs);
                    continue;
                }
                if (runStart >= 0 && s == runEnd) {
                    runEnd = e;
                } else {
                    flush(runs, runStart, runEnd);
                    runStart = s;
                    runEnd = e;
                }
            }
            // Go on after what was answered. With many regions in one answer this kernel's walk_end can stop short of
            // the last region returned (2048 regions reaching +0x2800000, walk_end at +0x1e01000); going on from it
            // would report those pages twice.
            long walkEnd = arg.getLong(32);
            long answered = n > 0 ? regions.getLong((int) (n - 1) * REGION_SIZE + 8) : at;
            long next = Math.max(walkEnd, answered);
            at = next <= at ? end : next;
        }
        flush(runs, runStart, runEnd);
        return true;
    }

    /** The parts of {@code runs} (in address order, not overlapping) within [start, end). */
    static List<PageRun> clip(List<PageRun> runs, long start, long end) {
        List<PageRun> out = new ArrayList<>();
        int lo = 0, hi = runs.size();
        while (lo < hi) { // the first run that ends after start
            int mid = (lo + hi) >>> 1;
            if (runs.get(mid).end() <= start) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        for (int i = lo; i < runs.size() && runs.get(i).address() < end; i++) {
            PageRun r = runs.get(i);
            long s = Math.max(r.address(), start), e = Math.min(r.end(), end);
            out.add(s == r.address() && e == r.end() ? r : new PageRun(s, (int) ((e - s) >>> 12)));
        }
        return out;
    }

    private static void flush(List<PageRun> runs, long start, long end) {
        if (start < 0) {
            return;
        }
        // a run after a raw-read one may touch it: join them as the raw scan would have
        if (!runs.isEmpty()) {
            PageRun last = runs.get(runs.size() - 1);
            if (last.end() == start) {
                runs.set(runs.size() - 1, new PageRun(last.address(), last.pages() + (int) ((end - start) >>> 12)));
                return;
            }
        }
        runs.add(new PageRun(start, (int) ((end - start) >>> 12)));
    }

    /** Raw pagemap entries of {@code pages} pages from {@code start}, in slices of the buffer's size. */
    private void rawRuns(long start, int pages, List<PageRun> runs) throws IOException {
        int slice = buffer.capacity() / 8;
        long runStart = -1;
        long runPages = 0;
        for (int done = 0; done < pages; done += slice) {
            int count = Math.min(slice, pages - done);
            long pos = ((start >>> 12) + done) * 8;
            int got = 0;
            while (got < count * 8) {
                long n = Syscall.raw(Syscall.PREAD64, fd, buffer.address() + got, count * 8 - got, pos + got);
                if (n < 0) {
                    throw new IOException("/proc/" + pid + "/pagemap: " + SyscallException.describe((int) -n));
                }
                if (n == 0) {
                    break; // past the end of the address space: no pages
                }
                got += (int) n;
            }
            count = got / 8;
            LongBuffer entries = buffer.buffer().clear().limit(count * 8).asLongBuffer();
            for (int i = 0; i < count; i++) {
                long e = entries.get(i);
                boolean own = (e & (PRESENT | SWAPPED)) != 0 && (e & FILE_OR_SHARED) == 0 && !ptMarker(e);
                if (ptMarker(e) && (e & GUARD_REGION) != 0) {
                    addGuard(start + ((long) (done + i) << 12));
                }
                if (own) {
                    if (runPages == 0) {
                        runStart = start + ((long) (done + i) << 12);
                    }
                    runPages++;
                } else if (runPages > 0) {
                    flush(runs, runStart, runStart + (runPages << 12));
                    runPages = 0;
                }
            }
        }
        if (runPages > 0) {
            flush(runs, runStart, runStart + (runPages << 12));
        }
    }

    /** PM_MMAP_EXCLUSIVE: a present page mapped by this process alone. */
    static final long EXCLUSIVE = 1L << 56;

    /**
     * {@code runs} (in address order) cut where their pages change from the process's alone to shared with another
     * process, the shared parts also added to {@code shared}: copy-on-write pages a fork left shared with a parent,
     * child or sibling (or that KSM merged), and swapped ones, whose swap entry may be shared. process_vm_readv
     * pins what it reads, and a read-only pin of such a page unshares it: the process gets a copy of its own, and
     * keeps it after a dump with -R or a pre-dump (a preforking server's workers would each grow by all they share
     * with their master). /proc/PID/mem reads them without a pin. From the raw entries: PAGEMAP_SCAN cannot tell.
     */
    public List<PageRun> splitShared(List<PageRun> runs, java.util.Set<PageRun> shared) throws IOException {
        List<PageRun> out = new ArrayList<>(runs.size());
        int slice = buffer.capacity() / 8;
        for (PageRun r : runs) {
            long partStart = r.address();
            boolean partShared = false;
            for (int done = 0; done < r.pages(); ) {
                int count = Math.min(slice, r.pages() - done);
                long pos = ((r.address() >>> 12) + done) * 8;
                int got = 0;
                while (got < count * 8) {
                    long n = Syscall.raw(Syscall.PREAD64, fd, buffer.address() + got, count * 8 - got, pos + got);
                    if (n <= 0) {
                        throw new IOException("/proc/" + pid + "/pagemap: "
                                + (n == 0 ? "ends early" : SyscallException.describe((int) -n)));
                    }
                    got += (int) n;
                }
                LongBuffer entries = buffer.buffer().clear().limit(count * 8).asLongBuffer();
                for (int i = 0; i < count; i++) {
                    long e = entries.get(i);
                    boolean isShared = (e & (PRESENT | EXCLUSIVE)) != (PRESENT | EXCLUSIVE);
                    long page = r.address() + ((long) (done + i) << 12);
                    if (isShared != partShared && page > partStart) {
                        PageRun part = new PageRun(partStart, (int) ((page - partStart) >>> 12));
                        out.add(part);
                        if (partShared) {
                            shared.add(part);
                        }
                        partStart = page;
                    }
                    partShared = isShared;
                }
                done += count;
            }
            PageRun last = partStart == r.address() ? r : new PageRun(partStart, (int) ((r.end() - partStart) >>> 12));
            out.add(last);
            if (partShared) {
                shared.add(last);
            }
        }
        return out;
    }

    private void addGuard(long page) {
        if (!guards.isEmpty()) {
            PageRun last = guards.get(guards.size() - 1);
            if (last.end() == page) {
                guards.set(guards.size() - 1, new PageRun(last.address(), last.pages() + 1));
                return;
            }
        }
        guards.add(new PageRun(page, 1));
    }

    /**
     * A swap-type entry of type 31 (SWP_PTE_MARKER) is no memory: the uffd-wp tracker's marker on an empty PTE.
     * The type shows only to CAP_SYS_ADMIN; without it such a page reads as swapped and is saved as zeros.
     */
    static boolean ptMarker(long e) {
        return (e & PRESENT) == 0 && (e & SWAPPED) != 0 && (e & 0x1f) == PTE_MARKER_TYPE;
    }

    static final int PTE_MARKER_TYPE = 31;

    @Override
    public void close() throws IOException {
        if (scanArg != null) {
            SPARE.set(new NativeBuffer[]{buffer, scanArg, regions});
        }
        Syscall.raw(Syscall.CLOSE, fd);
    }
}
