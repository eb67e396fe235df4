package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;
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
        int i = 0;
        long local = 0;
        while (i < c.count()) {
            if (c.viaProcMem()[i]) {
                // PROT_NONE pages: out of process_vm's reach
                ByteBuffer slice = buf.buffer().duplicate().clear().position((int) local).limit((int) (local + c.lens()[i]));
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
                memory.transfer(false, buf.address() + local, c.addrs(), c.lens(), j);
            } else {
                long[] a = java.util.Arrays.copyOfRange(c.addrs(), i, j), l = java.util.Arrays.copyOfRange(c.lens(), i, j);
                memory.transfer(false, buf.address() + local, a, l, j - i);
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
