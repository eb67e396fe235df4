package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageAccess;
import dev.cryo.image.ImageChecksums;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.List;

/**
 * Page contents for a list of runs, laid end to end in one native buffer: filled from a process in iovec
 * batches, or from pages images (an incremental chain's, which a restore then copies from {@link #address()});
 * written to an image. No per-page objects.
 *
 * <p>A large copy from a process into a pages image does not hold the pages at all: reading the process only
 * notes the source, and writing the image streams through a {@link PagePipe} (a few reused chunks,
 * process and file I/O overlapped). Holding a gigabyte would cost more than copying it: every page of a
 * fresh buffer is faulted in and zeroed first.
 */
public final class PageBuffer {
    /** Copies above this many bytes stream instead of filling the buffer. */
    static final long STREAM_MIN = Long.getLong("cryo.pages.streamMin", 2L * PagePipe.CHUNK);
    /** The most a dump reserves ahead (see {@link #reserve}) to read its pages in one go instead of streaming. */
    static final long RESERVE_MAX = Long.getLong("cryo.pages.reserveMax", 64L << 20);
    /** A buffer faulted in before the freeze, for the next dump's pages; taken by the first dump that fits in it. */
    private static volatile NativeBuffer spare;

    private final List<PageRun> runs;
    private NativeBuffer data;
    private final long bytes;
    /** A process whose pages are still to be read (dump), with the runs it reads through /proc/PID/mem. */
    private RemoteMemory pendingProcess;
    private Collection<PageRun> pendingUnreadable;
    /** The pending process read goes into {@link #data} (a reserved buffer), not through a pipe. */
    private boolean pendingIntoData;
    private long remoteNanos, fileNanos;

    private PageBuffer(List<PageRun> runs, long bytes) {
        this.runs = List.copyOf(runs);
        this.bytes = bytes;
    }

    public static PageBuffer forRuns(List<PageRun> runs) {
        long total = 0;
        for (PageRun r : runs) { // a loop, not a stream: this runs while the target is frozen
            total += r.bytes();
        }
        if (total > Integer.MAX_VALUE - 4096) {
            throw new IllegalArgumentException("more than 2 GiB of pages in one buffer");
        }
        return new PageBuffer(runs, total);
    }

    /**
     * Before a freeze: keeps a buffer, allocated and faulted in now, for the pages the next dump reads, which an
     * incremental dump expects to be about {@code expected} bytes (from its rehearsal). Pages written until the
     * freeze join those: room for twice as many and 4 MiB more, at most {@link #RESERVE_MAX}.
     */
    public static void reserveFor(long expected) {
        reserve(expected, Math.min(expected * 2 + (4 << 20), RESERVE_MAX));
    }

    /**
     * Before a full dump's freeze: the same for a process with {@code resident} bytes of anonymous memory
     * ({@link dev.cryo.engine.proc.ProcFs#anonResident}), about what the dump reads, with a quarter and 1 MiB more
     * for what it writes until the freeze. Between a pool buffer's {@link #STREAM_MIN} and {@link #RESERVE_MAX}, the
     * pages otherwise stream through a pipe made inside the frozen window: a 257-thread process's 2.5 MiB took
     * 8 to 10 ms there, against 1 to 2 ms for a pool buffer's 2 MiB.
     */
    public static void reserveForDump(long resident) {
        if (resident > STREAM_MIN) { // else a pool buffer holds them
            reserve(resident, Math.min(resident + resident / 4 + (1 << 20), RESERVE_MAX));
        }
    }

    /**
     * After a dump: a reserved buffer that no dump took (fewer pages than expected) is let go, so that a long-lived
     * Cryo (the resident service) does not keep up to {@link #RESERVE_MAX} of it until its next large dump.
     */
    public static void releaseSpare() {
        spare = null;
    }

    private static void reserve(long expected, long bytes) {
        if (expected >= RESERVE_MAX || bytes <= STREAM_MIN) {
            return; // streams anyway, or small enough to read at once
        }
        NativeBuffer s = spare;
        if (s == null || s.capacity() < bytes) {
            spare = NativeBuffer.allocate((int) bytes); // a direct buffer is zeroed, so every page is touched
        }
    }

    private NativeBuffer data() {
        if (data == null) {
            if (written) {
                throw new IllegalStateException("pages read into a thread's reused buffer were written already");
            }
            data = onThreadBuffer ? threadBuffer(bytes) : NativeBuffer.allocate((int) bytes);
        }
        return data;
    }

    /**
     * Buffers for pages read and written at once (a copy that does not stream, at most {@link #STREAM_MIN} bytes),
     * kept between tasks and between dumps: a fresh one is zeroed and faulted in page by page (about 10 µs a page on
     * this kind of VM: 5 ms for a counting loop's 2 MiB, inside the frozen window). The pool's own are mapped
     * populated ({@link PopulatedMemory}) before the freeze ({@link #prepare}); the rehearsal's go back to it too, so
     * a dump finds them ready. At most {@link #POOL_MAX}, never unmapped (the resident service keeps them).
     */
    private static final java.util.concurrent.ConcurrentLinkedDeque<NativeBuffer> POOL =
            new java.util.concurrent.ConcurrentLinkedDeque<>();
    /** Every buffer the pool made, by identity: only those go back to it. */
    private static final java.util.Set<NativeBuffer> POOLED =
            java.util.Collections.synchronizedSet(java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>()));
    static final int POOL_MAX = 4;
    /** Read into a pool buffer, which goes back to the pool once {@link #writeTo} is done. */
    private boolean onThreadBuffer;
    private boolean written;

    /**
     * Before a freeze: makes sure {@code count} (at most {@link #POOL_MAX}) pool buffers wait, one for each image
     * writer that will read at once.
     */
    public static void prepare(int count) {
        int want = Math.min(count, POOL_MAX);
        synchronized (POOLED) {
            while (POOLED.size() < want) {
                NativeBuffer b = newPooled();
                if (b == null) {
                    return; // the frozen window allocates its own then
                }
                POOL.push(b);
            }
        }
    }

    private static NativeBuffer threadBuffer(long bytes) {
        if (bytes <= STREAM_MIN) {
            NativeBuffer b = POOL.poll();
            if (b != null) {
                return b;
            }
        }
        synchronized (POOLED) {
            NativeBuffer b = POOLED.size() < POOL_MAX && bytes <= STREAM_MIN ? newPooled() : null;
            if (b != null) {
                return b;
            }
        }
        return NativeBuffer.allocate((int) Math.max(bytes, 4096));
    }

    /** A new buffer of the pool's (populated, never unmapped), counted in {@link #POOLED}; null if none can be mapped. */
    private static NativeBuffer newPooled() {
        try {
            NativeBuffer b = NativeBuffer.wrap(dev.cryo.engine.sys.PopulatedMemory.map(STREAM_MIN).buffer());
            POOLED.add(b);
            return b;
        } catch (dev.cryo.engine.sys.SyscallException | RuntimeException e) {
            return null;
        }
    }

    private static void giveBack(NativeBuffer b) {
        if (POOLED.contains(b)) {
            POOL.push(b);
        }
    }

    /**
     * The pages go into the calling thread's reused buffer instead of a fresh one; the same thread must then write
     * them ({@link #writeTo}) before it reads another task's, and they cannot be read from this buffer afterwards.
     * Only for copies that do not stream (which hold no buffer of their size).
     */
    public void onThreadBuffer() {
        if (data != null) {
            throw new IllegalStateException("the buffer of these pages is made already");
        }
        onThreadBuffer = true;
    }

    private boolean streams() {
        return bytes > STREAM_MIN;
    }

    /** Time spent in process_vm_readv/writev by a streamed copy (0 when not streamed). */
    public long streamedRemoteNanos() {
        return remoteNanos;
    }

    /** Time the file side of a streamed copy took, overlapping {@link #streamedRemoteNanos()} (0 when not streamed). */
    public long streamedFileNanos() {
        return fileNanos;
    }

    /** How a streamed copy went to its file (see {@link PagePipe.Route}), for the log; null when not streamed. */
    public String streamRoute() {
        return route;
    }

    /** The route a streamed copy took. */
    private String route;
    /** The route a streamed copy is to take: the default, or a test's choice. */
    private PagePipe.Route via;

    /** A streamed copy goes by {@code route} instead of the default (for tests of each). */
    void via(PagePipe.Route route) {
        this.via = route;
    }

    /** Whether the pages went straight from the process to the file, read while writing. */
    public boolean streamed() {
        return remoteNanos > 0 || fileNanos > 0;
    }

    /** Address of the contents, as filled by the {@code readFrom} calls; valid while this buffer is reachable. */
    public long address() {
        return data().address();
    }

    public List<PageRun> runs() {
        return runs;
    }

    public long bytes() {
        return bytes;
    }

    public long pages() {
        return bytes >>> 12;
    }

    /** Reads every run from the process; runs it cannot reach through process_vm_readv come from /proc/PID/mem. */
    /**
     * Reads every run from the process; runs it cannot reach through process_vm_readv come from /proc/PID/mem.
     * A large buffer is read while {@link #writeTo(Path)} writes it: the process must stay frozen until then.
     */
    public void readFrom(RemoteMemory memory, Collection<PageRun> unreadable) throws SyscallException, IOException {
        NativeBuffer reserved = spare;
        if (streams() && reserved != null && reserved.capacity() >= bytes) {
            // faulted in already: batched reads into it and one write beat a pipe of fresh chunks
            spare = null;
            data = reserved;
            pendingIntoData = true;
            pendingProcess = memory;
            pendingUnreadable = unreadable;
            return;
        }
        if (streams()) {
            pendingProcess = memory;
            pendingUnreadable = unreadable;
            return;
        }
        move(memory, false, unreadable);
    }

    private void move(RemoteMemory memory, boolean toRemote, Collection<PageRun> viaProcMem) throws SyscallException, IOException {
        move(memory, toRemote, viaProcMem, 0, runs.size(), 0);
    }

    /**
     * Runs from this many on, scattered reads are shared by two threads (see {@link #moveOnTwoThreads}). Starting
     * the second thread costs a cold dump about 5 ms of its frozen window (measured by hand: a 257-thread process's
     * 334 runs, 640 pages, read in 5.1 ms on one thread and in 8 to 11 on two, each thread's own read 2.7 ms), which
     * only a few thousand scattered pages pay back. {@code -Dcryo.pages.parallelRuns=N} to measure.
     */
    static final int PARALLEL_RUNS = Integer.getInteger("cryo.pages.parallelRuns", 1024);

    /**
     * Reads the runs with two threads, each half of the runs (by bytes). Scattered pages cost the kernel a page
     * walk each: an incremental dump's 2600 single pages take ≈9 ms on one core, and the dump's other thread only
     * waits for them meanwhile.
     */
    private void moveOnTwoThreads(RemoteMemory memory, Collection<PageRun> viaProcMem) throws SyscallException, IOException {
        long half = bytes / 2, offset = 0;
        int split = 0;
        while (split < runs.size() && offset < half) {
            offset += runs.get(split++).bytes();
        }
        long splitOffset = offset;
        int at = split;
        Throwable[] failure = new Throwable[1];
        Thread other = new Thread(() -> {
            try {
                move(memory, false, viaProcMem, at, runs.size(), splitOffset);
            } catch (SyscallException | IOException | RuntimeException e) {
                failure[0] = e;
            }
        }, "cryo-page-reader");
        other.start();
        try {
            move(memory, false, viaProcMem, 0, split, 0);
        } finally {
            dev.cryo.engine.sys.Threads.joinUninterruptibly(other); // its writes into the buffer end before anyone reads
        }
        if (failure[0] instanceof SyscallException e) {
            throw e;
        }
        if (failure[0] instanceof IOException e) {
            throw e;
        }
        if (failure[0] instanceof RuntimeException e) {
            throw e;
        }
    }

    /** Moves runs [from, to), the first of them at {@code startOffset} in the buffer. */
    private void move(RemoteMemory memory, boolean toRemote, Collection<PageRun> viaProcMem, int from, int to,
                      long startOffset) throws SyscallException, IOException {
        NativeBuffer data = data();
        long[] addrs = new long[to - from];
        long[] lens = new long[to - from];
        long offset = startOffset;
        int n = 0;
        long batchLocal = -1;
        FileChannel procMem = null;
        try {
            for (PageRun r : runs.subList(from, to)) {
                if (viaProcMem.contains(r)) {
                    if (n > 0) {
                        memory.transfer(toRemote, data.address() + batchLocal, addrs, lens, n);
                        n = 0;
                    }
                    if (procMem == null) {
                        procMem = FileChannel.open(Path.of("/proc", Integer.toString(memory.pid()), "mem"),
                                toRemote ? StandardOpenOption.WRITE : StandardOpenOption.READ);
                    }
                    ByteBuffer slice = data.buffer().duplicate().position((int) offset).limit((int) (offset + r.bytes()));
                    while (slice.hasRemaining()) {
                        long at = r.address() + (slice.position() - offset);
                        int m = toRemote ? procMem.write(slice, at) : procMem.read(slice, at);
                        if (m <= 0) {
                            throw new IOException("/proc/" + memory.pid() + "/mem: short transfer at " + Long.toHexString(at));
                        }
                    }
                } else {
                    if (n == 0) {
                        batchLocal = offset;
                    }
                    addrs[n] = r.address();
                    lens[n] = r.bytes();
                    n++;
                }
                offset += r.bytes();
            }
            if (n > 0) {
                memory.transfer(toRemote, data.address() + batchLocal, addrs, lens, n);
            }
        } finally {
            if (procMem != null) {
                procMem.close();
            }
        }
    }

    public void writeTo(Path file) throws IOException {
        writeTo(file, ImageChecksums.Sink.NONE);
    }

    /**
     * Writes the pages image (an image file's mode: {@link ImageAccess}), feeding {@code sums} every byte as it is
     * written, and closes {@code sums} once the file is complete.
     */
    public void writeTo(Path file, ImageChecksums.Sink sums) throws IOException {
        try {
            write(file, sums);
            if (onThreadBuffer) {
                giveBack(data); // the pool's again, for the next task's pages
                data = null;
                written = true;
            }
        } catch (java.nio.file.FileSystemException e) {
            throw e; // names the file already
        } catch (IOException e) {
            // a channel's write says "No space left on device" and nothing of where
            throw new IOException(file + ": " + e.getMessage(), e);
        }
        sums.close();
    }

    private void write(Path file, ImageChecksums.Sink sums) throws IOException {
        try (FileChannel ch = ImageAccess.create(file)) {
            if (pendingIntoData) {
                long t0 = System.nanoTime();
                try {
                    if (runs.size() >= PARALLEL_RUNS) {
                        moveOnTwoThreads(pendingProcess, pendingUnreadable);
                    } else {
                        move(pendingProcess, false, pendingUnreadable);
                    }
                } catch (SyscallException e) {
                    throw new IOException(e.getMessage(), e);
                }
                pendingIntoData = false;
                pendingProcess = null;
                long t1 = System.nanoTime();
                ByteBuffer b = data.buffer().duplicate().position(0).limit((int) bytes);
                sums.update(b);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                remoteNanos = Math.max(1, t1 - t0);
                fileNanos = Math.max(1, System.nanoTime() - t1);
            } else if (pendingProcess != null) {
                PagePipe pipe = new PagePipe(via == null ? PagePipe.defaultRoute() : via);
                try {
                    pipe.toFile(pendingProcess, runs, pendingUnreadable, file, ch, sums);
                } catch (SyscallException e) {
                    throw new IOException(e.getMessage(), e);
                }
                route = pipe.routeTaken();
                pendingProcess = null;
                remoteNanos = pipe.remoteNanos();
                fileNanos = pipe.fileNanos();
            } else {
                ByteBuffer b = data().buffer().duplicate().position(0).limit((int) bytes);
                sums.update(b);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
            }
        }
    }

    /** Fills {@code length} bytes of the buffer at {@code bufferOffset} from {@code ch} at {@code fileOffset}. */
    public void readFrom(FileChannel ch, long fileOffset, long bufferOffset, long length) throws IOException {
        ByteBuffer b = data().buffer().duplicate().position((int) bufferOffset).limit((int) (bufferOffset + length));
        while (b.hasRemaining()) {
            int m = ch.read(b, fileOffset + (b.position() - bufferOffset));
            if (m < 0) {
                throw new IOException("a pages image ends before its pagemap says (" + length + " bytes from "
                        + fileOffset + ")");
            }
        }
    }

    /** Fills the buffer from a pages image, starting at {@code fileOffset}. */
    public void readFrom(Path file, long fileOffset) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = data().buffer().duplicate().position(0).limit((int) bytes);
            while (b.hasRemaining()) {
                int m = ch.read(b, fileOffset + b.position());
                if (m < 0) {
                    throw new IOException(file + " ends before its pagemap says (" + bytes + " bytes from " + fileOffset + ")");
                }
            }
        }
    }
}
