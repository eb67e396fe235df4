package dev.cryo.engine.mem;

import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.sys.NativeBuffer;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * /proc/PID/pagemap: which pages of a VMA are the process's own. A private mapping's page that is present or
 * swapped and not a file page was written by the process (anonymous or copied on write) and must be saved;
 * clean file pages come back from the file.
 */
public final class PageMapScanner implements AutoCloseable {
    static final long PRESENT = 1L << 63, SWAPPED = 1L << 62, FILE_OR_SHARED = 1L << 61;

    private final FileChannel channel;
    private NativeBuffer buffer = NativeBuffer.allocate(8 * 4096);

    public PageMapScanner(int pid) throws IOException {
        this.channel = FileChannel.open(Path.of("/proc", Integer.toString(pid), "pagemap"), StandardOpenOption.READ);
    }

    /** Runs of pages of {@code vma} to save, in address order. */
    public List<PageRun> ownPages(MapsEntry vma) throws IOException {
        int pages = vma.pages();
        int bytes = pages * 8;
        if (buffer.capacity() < bytes) {
            buffer = NativeBuffer.allocate(bytes);
        }
        var bb = buffer.buffer().clear().limit(bytes);
        long pos = (vma.start() >>> 12) * 8;
        while (bb.hasRemaining()) {
            int n = channel.read(bb, pos + bb.position());
            if (n < 0) {
                break;
            }
        }
        List<PageRun> runs = new ArrayList<>();
        long runStart = -1;
        int runLen = 0;
        for (int i = 0; i < pages; i++) {
            long e = buffer.getLong(i * 8);
            boolean own = (e & (PRESENT | SWAPPED)) != 0 && (e & FILE_OR_SHARED) == 0 && !ptMarker(e);
            if (own) {
                if (runLen == 0) {
                    runStart = vma.start() + ((long) i << 12);
                }
                runLen++;
            } else if (runLen > 0) {
                runs.add(new PageRun(runStart, runLen));
                runLen = 0;
            }
        }
        if (runLen > 0) {
            runs.add(new PageRun(runStart, runLen));
        }
        return runs;
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
        channel.close();
    }
}
