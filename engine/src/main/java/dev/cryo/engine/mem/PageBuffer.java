package dev.cryo.engine.mem;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Page contents for a list of runs, laid end to end in one native buffer: filled from a process in iovec
 * batches, or from a pages image; written to a process or an image the same way. No per-page objects.
 */
public final class PageBuffer {
    private final List<PageRun> runs;
    private final NativeBuffer data;
    private final long bytes;

    private PageBuffer(List<PageRun> runs, NativeBuffer data, long bytes) {
        this.runs = List.copyOf(runs);
        this.data = data;
        this.bytes = bytes;
    }

    public static PageBuffer forRuns(List<PageRun> runs) {
        long total = runs.stream().mapToLong(PageRun::bytes).sum();
        if (total > Integer.MAX_VALUE - 4096) {
            throw new IllegalArgumentException("more than 2 GiB of pages in one buffer");
        }
        return new PageBuffer(runs, NativeBuffer.allocate((int) total), total);
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
    public void readFrom(RemoteMemory memory, java.util.Collection<PageRun> unreadable) throws SyscallException, IOException {
        move(memory, false, unreadable);
    }

    public void writeTo(RemoteMemory memory, java.util.Collection<PageRun> unwritable) throws SyscallException, IOException {
        move(memory, true, unwritable);
    }

    private void move(RemoteMemory memory, boolean toRemote, java.util.Collection<PageRun> viaProcMem) throws SyscallException, IOException {
        long[] addrs = new long[runs.size()];
        long[] lens = new long[runs.size()];
        long offset = 0;
        int n = 0;
        long batchLocal = -1;
        FileChannel procMem = null;
        try {
            for (PageRun r : runs) {
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
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = data.buffer().duplicate().position(0).limit((int) bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }
    }

    /** Fills {@code length} bytes of the buffer at {@code bufferOffset} from {@code ch} at {@code fileOffset}. */
    public void readFrom(FileChannel ch, long fileOffset, long bufferOffset, long length) throws IOException {
        ByteBuffer b = data.buffer().duplicate().position((int) bufferOffset).limit((int) (bufferOffset + length));
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
            ByteBuffer b = data.buffer().duplicate().position(0).limit((int) bytes);
            while (b.hasRemaining()) {
                int m = ch.read(b, fileOffset + b.position());
                if (m < 0) {
                    throw new IOException(file + " ends before its pagemap says (" + bytes + " bytes from " + fileOffset + ")");
                }
            }
        }
    }
}
