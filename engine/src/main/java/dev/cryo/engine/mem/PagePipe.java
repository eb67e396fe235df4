package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Pages copied from a process into a pages file through a few reused chunk buffers, the process side
 * (process_vm_readv, on the calling thread, which may be the tracer) overlapping the file side (write, on a
 * worker thread): chunk N+1 is read while chunk N is written. Nothing grows with the image but one small
 * layout record per chunk, and no buffer is ever faulted in twice. (A restore copies with {@link PageInstaller}.)
 * That is the {@link Route#PIPE pipe} route; by default a copy takes the {@link Route#SPLICE splice} route, on two
 * threads that each read and write their own range of the file.
 */
final class PagePipe {
    /** Bytes per chunk; a chunk is also at most {@link RemoteMemory#IOV_MAX} ranges. */
    static final int CHUNK = Integer.getInteger("cryo.pages.chunk", 1 << 20);
    static final int BUFFERS = 3;

    private long remoteNanos, fileNanos;

    /** One chunk: pieces of runs laid end to end, from {@code fileOffset} in the pages file. */
    record Chunk(long fileOffset, int bytes, long[] addrs, long[] lens, boolean[] viaProcMem, int count) {
    }

    private record Slot(NativeBuffer buffer, Chunk chunk, Throwable failure) {
    }

    long remoteNanos() {
        return remoteNanos;
    }

    long fileNanos() {
        return fileNanos;
    }

    /** {@code runs} of the process into {@code file}, from its position 0. */
    void toFile(RemoteMemory memory, List<PageRun> runs, Collection<PageRun> viaProcMem, FileChannel file)
            throws SyscallException, IOException {
        toFile(memory, runs, viaProcMem, file, dev.cryo.image.ImageChecksums.Sink.NONE);
    }

    /** As above, {@code sums} fed each chunk (in file order) from its buffer once read, before it is written. */
    void toFile(RemoteMemory memory, List<PageRun> runs, Collection<PageRun> viaProcMem, FileChannel file,
                dev.cryo.image.ImageChecksums.Sink sums) throws SyscallException, IOException {
        List<Chunk> chunks = layout(runs, viaProcMem, 0);
        BlockingQueue<Slot> free = new ArrayBlockingQueue<>(BUFFERS + 1);
        BlockingQueue<Slot> full = new ArrayBlockingQueue<>(BUFFERS + 1);
        int buffers = Math.min(BUFFERS, chunks.size());
        for (int i = 0; i < buffers; i++) {
            free.add(new Slot(NativeBuffer.allocate(CHUNK), null, null));
        }
        FileChannel procMem = null;
        long total = 0;
        for (Chunk c : chunks) {
            total += c.bytes();
        }
        PageProgress progress = PageProgress.forCopy("Dumping memory", total);
        Thread worker = new Thread(() -> fileSide(chunks, file, free, full), "cryo-pages");
        worker.setDaemon(true);
        worker.start();
        try {
            if (!viaProcMem.isEmpty()) {
                procMem = FileChannel.open(Path.of("/proc", Integer.toString(memory.pid()), "mem"), StandardOpenOption.READ);
            }
            for (Chunk c : chunks) {
                Slot s = take(free);
                if (s.failure() != null) {
                    rethrow(s.failure());
                }
                long t = System.nanoTime();
                processSide(memory, procMem, s.buffer(), c);
                remoteNanos += System.nanoTime() - t;
                // The CRC on this side: the file side (write) is the slower one, and summing there cost 10% of a
                // 256 MiB dump's throughput on tmpfs (ChecksumCostBench), here it hides under the writes.
                sums.update(s.buffer().buffer().duplicate().clear().limit(c.bytes()));
                progress.advance(c.bytes());
                full.add(new Slot(s.buffer(), c, null));
            }
            // the worker's last writes: every buffer back means every chunk is in the file
            for (int i = 0; i < buffers; i++) {
                Slot s = take(free);
                if (s.failure() != null) {
                    rethrow(s.failure());
                }
            }
        } finally {
            progress.close();
            worker.interrupt();
            try {
                worker.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (procMem != null) {
                procMem.close();
            }
        }
    }

    /**
     * How a large copy reaches its pages file:
     * <ul>
     * <li>{@code mapped}: the file reserved (fallocate) and mapped shared, process_vm_readv copying straight into
     * the page cache, one copy;</li>
     * <li>{@code write}: process_vm_readv into a reused chunk buffer, then pwrite from it, two copies;</li>
     * <li>{@code splice}: as {@code write}, the buffer's pages handed to a pipe (vmsplice, no copy) and spliced into
     * the file, so that the second copy is the kernel's from its own mapping of them, as CRIU's is;</li>
     * <li>{@code pipe}: as {@code write}, the reads on one thread and the writes on another (Cryo's first way).</li>
     * </ul>
     * {@code mapped}, {@code write} and {@code splice} share the file out between {@link #THREADS} threads, each copying its own
     * range and summing its own checksum blocks. The switch is there for measuring one way against another.
     */
    enum Route {
        MAPPED, WRITE, SPLICE, PIPE;

        static Route of(String name) {
            for (Route r : values()) {
                if (r.name().equalsIgnoreCase(name)) {
                    return r;
                }
            }
            throw new IllegalArgumentException("cryo.pages.route: " + name + " (mapped, write, splice or pipe)");
        }
    }

    /** The route a copy takes unless told otherwise (read at each copy: a test may switch it). */
    static Route defaultRoute() {
        return Route.of(System.getProperty("cryo.pages.route", "splice"));
    }
    /** Threads sharing out one file's copy: one a core, two at most (the copies are memory-bound beyond). */
    static final int THREADS = Integer.getInteger("cryo.pages.threads",
            Math.min(2, Runtime.getRuntime().availableProcessors()));
    /**
     * Bytes per write (or splice) into the file. A write allocates page-cache folios as large as itself, and on this
     * project's VMs (free memory handed back to the host in 2 MiB blocks) megabyte folios land on memory the host
     * must fault in again, page by page, inside the copy. PageCacheWriteBench (bench/results/jmh-pagecache-2026-12-05),
     * a fresh 1 GiB file on ext4 written from a reused 1 MiB buffer, its memory freed 3 s before as between two dumps:
     * 695 ms in 1 MiB writes, 156 ms in 256 KiB writes, 211 ms in 64 KiB writes. tmpfs, whose folios are single
     * pages, does not care (by hand: 1 MiB writes as fast as smaller ones).
     */
    static final int WRITE_PIECE = Integer.getInteger("cryo.pages.writePiece", 256 << 10);
    /** Fault each chunk's pages of the map in with one madvise before the copy (instead of one fault a page). */
    static final boolean POPULATE = Boolean.getBoolean("cryo.pages.populate");
    /** A thread copies at least this many chunks: a smaller share costs more to start than it saves. */
    static final int CHUNKS_PER_THREAD = 4;

    private final Route route;

    PagePipe() {
        this(defaultRoute());
    }

    PagePipe(Route route) {
        this.route = route;
    }

    /** Which route a copy took, for the log. */
    private String routeTaken = "pipe";

    String routeTaken() {
        return routeTaken;
    }

    /**
     * {@code runs} of the process into {@code path} (created empty, open for writing as {@code file}) by this
     * pipe's route; {@code sums} gets every block's checksum, computed by whichever thread copied it.
     */
    void toFile(RemoteMemory memory, List<PageRun> runs, Collection<PageRun> viaProcMem, Path path, FileChannel file,
                dev.cryo.image.ImageChecksums.Sink sums) throws SyscallException, IOException {
        if (route == Route.PIPE) {
            toFile(memory, runs, viaProcMem, file, sums);
            return;
        }
        long t0 = System.nanoTime();
        List<Chunk> chunks = layout(runs, viaProcMem, 0);
        long total = 0;
        for (Chunk c : chunks) {
            total += c.bytes();
        }
        if (chunks.isEmpty()) {
            sums.addBlocks(new int[0], 0);
            return;
        }
        MappedPagesFile map = null;
        if (route == Route.MAPPED) {
            try {
                map = MappedPagesFile.create(path, total);
            } catch (MappedPagesFile.Unsupported e) {
                routeTaken = "write (" + e.getMessage() + ")";
            }
        }
        SplicedFile spliced = null;
        if (route == Route.SPLICE) {
            spliced = SplicedFile.open(path);
        }
        if (map != null) {
            routeTaken = "mapped";
        } else if (spliced != null) {
            routeTaken = "splice";
        } else if (routeTaken.equals("pipe")) {
            routeTaken = "write";
        }
        List<List<Chunk>> shares = shares(chunks, THREADS);
        routeTaken += ", " + shares.size() + (shares.size() == 1 ? " thread" : " threads");
        int[] crcs = new int[(int) ((total + dev.cryo.image.ImageChecksums.BLOCK - 1) / dev.cryo.image.ImageChecksums.BLOCK)];
        PageProgress progress = PageProgress.forCopy("Dumping memory", total);
        java.util.concurrent.atomic.AtomicBoolean failed = new java.util.concurrent.atomic.AtomicBoolean();
        Throwable[] failures = new Throwable[shares.size()];
        long[][] nanos = new long[shares.size()][2];
        Thread[] others = new Thread[shares.size() - 1];
        MappedPagesFile mapped = map;
        SplicedFile splicedFile = spliced;
        boolean done = false;
        try {
            for (int i = 1; i < shares.size(); i++) {
                int k = i;
                others[i - 1] = new Thread(() -> {
                    try {
                        copyShare(memory, shares.get(k), mapped, file, splicedFile, crcs, progress, failed, nanos[k]);
                    } catch (Throwable e) {
                        failures[k] = e;
                        failed.set(true);
                    }
                }, "cryo-pages-" + k);
                others[i - 1].setDaemon(true);
                others[i - 1].start();
            }
            try {
                copyShare(memory, shares.get(0), mapped, file, splicedFile, crcs, progress, failed, nanos[0]);
            } catch (Throwable e) {
                failures[0] = e;
                failed.set(true);
            }
            for (Thread t : others) {
                dev.cryo.engine.sys.Threads.joinUninterruptibly(t); // no thread writes into the file or the map after
            }
            for (Throwable f : failures) {
                if (f instanceof SyscallException e) {
                    throw e;
                }
                if (f != null) {
                    rethrow(f);
                }
            }
            done = true;
        } finally {
            progress.close();
            if (spliced != null) {
                spliced.close();
            }
            if (map != null) {
                if (done) {
                    map.close(); // unmapped off this thread
                } else {
                    map.closeNow();
                }
            }
        }
        sums.addBlocks(crcs, total);
        long wall = System.nanoTime() - t0;
        if (map != null) {
            remoteNanos = fileNanos = Math.max(1, wall); // one copy: reading the process is writing the file
        } else {
            // each side's time, per thread: what the copy's wall time is made of
            for (long[] n : nanos) {
                remoteNanos += n[0] / shares.size();
                fileNanos += n[1] / shares.size();
            }
            remoteNanos = Math.max(1, remoteNanos);
            fileNanos = Math.max(1, fileNanos);
        }
    }

    /**
     * Contiguous shares of the chunks, as even as whole chunks allow, each starting on a checksum block's boundary
     * (so that its thread sums whole blocks of its own).
     */
    static List<List<Chunk>> shares(List<Chunk> chunks, int threads) {
        int n = Math.max(1, Math.min(threads, chunks.size() / CHUNKS_PER_THREAD));
        List<List<Chunk>> out = new ArrayList<>();
        long total = 0;
        for (Chunk c : chunks) {
            total += c.bytes();
        }
        int from = 0;
        long at = 0;
        for (int k = 1; k < n && from < chunks.size(); k++) {
            long goal = total * k / n;
            int to = from;
            while (to < chunks.size() && (at < goal || at % dev.cryo.image.ImageChecksums.BLOCK != 0)) {
                at += chunks.get(to++).bytes();
            }
            if (to > from && to < chunks.size()) {
                out.add(chunks.subList(from, to));
                from = to;
            }
        }
        out.add(chunks.subList(from, chunks.size()));
        return out;
    }

    /**
     * Each copying thread's chunk buffer (the write and splice routes), reused by every copy that thread makes; from
     * a page boundary, so that vmsplice hands the pipe whole pages.
     */
    private static final ThreadLocal<ByteBuffer> CHUNK_BUFFER = ThreadLocal.withInitial(() -> {
        NativeBuffer b = NativeBuffer.allocate(CHUNK + 4096);
        int skew = (int) (((b.address() + 4095) & ~4095L) - b.address());
        return b.buffer().duplicate().position(skew).limit(skew + CHUNK).slice(); // keeps b's memory reachable
    });

    private static long addressOf(ByteBuffer direct) {
        return com.kenai.jffi.MemoryIO.getInstance().getDirectBufferAddress(direct);
    }

    /** One thread's share: each chunk read into the map (or its buffer, then written), summed block by block. */
    private static void copyShare(RemoteMemory memory, List<Chunk> share, MappedPagesFile map, FileChannel file,
                                  SplicedFile spliced, int[] crcs, PageProgress progress,
                                  java.util.concurrent.atomic.AtomicBoolean failed, long[] nanos)
            throws SyscallException, IOException {
        ByteBuffer buf = map == null ? CHUNK_BUFFER.get() : null;
        long bufAddress = buf == null ? 0 : addressOf(buf);
        BlockSums sums = new BlockSums(crcs, share.get(0).fileOffset());
        FileChannel procMem = null;
        SplicedFile.Pipe pipe = spliced == null ? null : spliced.pipe();
        try {
            for (Chunk c : share) {
                if (failed.get()) {
                    return; // another share failed: the file is abandoned
                }
                if (procMem == null && hasProcMem(c)) {
                    procMem = FileChannel.open(Path.of("/proc", Integer.toString(memory.pid()), "mem"), StandardOpenOption.READ);
                }
                long t = System.nanoTime();
                ByteBuffer view;
                if (map != null) {
                    view = map.view(c.fileOffset(), c.bytes());
                    if (POPULATE) {
                        Syscall.raw(Syscall.MADVISE, map.address() + c.fileOffset(), c.bytes(), 23 /* MADV_POPULATE_WRITE */);
                    }
                    processSide(memory, procMem, map.address() + c.fileOffset(), view, c);
                } else {
                    view = buf.duplicate().clear().limit(c.bytes());
                    processSide(memory, procMem, bufAddress, view, c);
                }
                long t1 = System.nanoTime();
                nanos[0] += t1 - t;
                sums.update(view.duplicate().clear().limit(c.bytes()));
                if (pipe != null) {
                    pipe.write(bufAddress, c.bytes(), c.fileOffset());
                    nanos[1] += System.nanoTime() - t1;
                } else if (map == null) {
                    ByteBuffer b = view.duplicate().clear().limit(Math.min(c.bytes(), WRITE_PIECE));
                    while (b.hasRemaining()) {
                        file.write(b, c.fileOffset() + b.position());
                        if (!b.hasRemaining()) {
                            b.limit(Math.min(c.bytes(), b.limit() + WRITE_PIECE));
                        }
                    }
                    nanos[1] += System.nanoTime() - t1;
                }
                synchronized (progress) {
                    progress.advance(c.bytes());
                }
            }
            sums.finish();
        } finally {
            if (procMem != null) {
                procMem.close();
            }
            if (pipe != null) {
                pipe.close();
            }
        }
    }

    private static boolean hasProcMem(Chunk c) {
        for (int i = 0; i < c.count(); i++) {
            if (c.viaProcMem()[i]) {
                return true;
            }
        }
        return false;
    }

    /** CRC32C of each {@link dev.cryo.image.ImageChecksums#BLOCK} of a file range that starts on a block boundary. */
    private static final class BlockSums {
        private final int[] crcs;
        private final java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        private int block, inBlock;

        BlockSums(int[] crcs, long fileOffset) {
            this.crcs = crcs;
            this.block = (int) (fileOffset / dev.cryo.image.ImageChecksums.BLOCK);
        }

        void update(ByteBuffer b) {
            int end = b.limit();
            while (b.position() < end) {
                int n = Math.min(end - b.position(), dev.cryo.image.ImageChecksums.BLOCK - inBlock);
                b.limit(b.position() + n);
                crc.update(b);
                b.limit(end);
                inBlock += n;
                if (inBlock == dev.cryo.image.ImageChecksums.BLOCK) {
                    crcs[block++] = (int) crc.getValue();
                    crc.reset();
                    inBlock = 0;
                }
            }
        }

        /** The share's end: the file's, if it leaves a short block. */
        void finish() {
            if (inBlock > 0) {
                crcs[block] = (int) crc.getValue();
            }
        }
    }

    /** The worker: writes filled chunks in chunk order. */
    private void fileSide(List<Chunk> chunks, FileChannel file, BlockingQueue<Slot> free, BlockingQueue<Slot> full) {
        try {
            for (Chunk c : chunks) {
                Slot s = full.take();
                long t = System.nanoTime();
                ByteBuffer b = s.buffer().buffer().duplicate().clear().limit(c.bytes());
                try {
                    while (b.hasRemaining()) {
                        file.write(b, c.fileOffset() + b.position());
                    }
                } catch (IOException | RuntimeException e) {
                    free.add(new Slot(s.buffer(), c, e));
                    return;
                }
                fileNanos += System.nanoTime() - t;
                free.add(new Slot(s.buffer(), c, null));
            }
        } catch (InterruptedException e) {
            // the process side gave up
        }
    }

    private static void processSide(RemoteMemory memory, FileChannel procMem, NativeBuffer buf, Chunk c)
            throws SyscallException, IOException {
        processSide(memory, procMem, buf.address(), buf.buffer(), c);
    }

    /** Reads chunk {@code c} to {@code local} (the address of {@code view}'s byte 0). */
    private static void processSide(RemoteMemory memory, FileChannel procMem, long local0, ByteBuffer view, Chunk c)
            throws SyscallException, IOException {
        int i = 0;
        long local = 0;
        while (i < c.count()) {
            if (c.viaProcMem()[i]) {
                // PROT_NONE pages: out of process_vm's reach
                ByteBuffer slice = view.duplicate().clear().position((int) local).limit((int) (local + c.lens()[i]));
                while (slice.hasRemaining()) {
                    long at = c.addrs()[i] + (slice.position() - local);
                    int m = procMem.read(slice, at);
                    if (m <= 0) {
                        throw new IOException("/proc/" + memory.pid() + "/mem: short transfer at " + Long.toHexString(at));
                    }
                }
                local += c.lens()[i++];
                continue;
            }
            int j = i;
            long bytes = 0;
            while (j < c.count() && !c.viaProcMem()[j]) {
                bytes += c.lens()[j++];
            }
            if (i == 0 && j == c.count()) {
                memory.transfer(false, local0 + local, c.addrs(), c.lens(), j);
            } else {
                long[] a = java.util.Arrays.copyOfRange(c.addrs(), i, j), l = java.util.Arrays.copyOfRange(c.lens(), i, j);
                memory.transfer(false, local0 + local, a, l, j - i);
            }
            local += bytes;
            i = j;
        }
    }

    /** Cuts the runs into chunks of at most {@link #CHUNK} bytes and IOV_MAX pieces. */
    static List<Chunk> layout(List<PageRun> runs, Collection<PageRun> viaProcMem, long fileOffset) {
        List<Chunk> chunks = new ArrayList<>();
        int max = Math.min(RemoteMemory.IOV_MAX, CHUNK >>> 12);
        long[] addrs = new long[max], lens = new long[max];
        boolean[] proc = new boolean[max];
        int n = 0, bytes = 0;
        long offset = fileOffset;
        for (PageRun r : runs) {
            boolean slow = !viaProcMem.isEmpty() && viaProcMem.contains(r);
            long at = r.address(), left = r.bytes();
            while (left > 0) {
                if (n == max || bytes == CHUNK) {
                    chunks.add(new Chunk(offset, bytes, addrs, lens, proc, n));
                    offset += bytes;
                    addrs = new long[max];
                    lens = new long[max];
                    proc = new boolean[max];
                    n = 0;
                    bytes = 0;
                }
                int piece = (int) Math.min(left, CHUNK - bytes);
                addrs[n] = at;
                lens[n] = piece;
                proc[n] = slow;
                n++;
                bytes += piece;
                at += piece;
                left -= piece;
            }
        }
        if (n > 0) {
            chunks.add(new Chunk(offset, bytes, addrs, lens, proc, n));
        }
        return chunks;
    }

    private static Slot take(BlockingQueue<Slot> q) throws IOException {
        try {
            return q.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while copying pages", e);
        }
    }

    private static void rethrow(Throwable t) throws IOException {
        if (t instanceof IOException e) {
            throw new IOException(e.getMessage(), e);
        }
        if (t instanceof RuntimeException e) {
            throw e;
        }
        throw new IOException(t);
    }
}
