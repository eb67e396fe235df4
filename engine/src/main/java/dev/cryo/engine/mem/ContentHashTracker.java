package dev.cryo.engine.mem;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.proc.MapsEntry;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Dirty pages by content: the previous dump kept a 128-bit hash of every page it saved, and a page is clean only
 * if it still hashes the same at the same address. Needs nothing from the kernel and leaves nothing in or
 * around the target, at the cost of reading all its memory (through /proc/PID/mem, which also reaches
 * PROT_NONE pages) while it is frozen.
 */
public final class ContentHashTracker implements DirtyTracker {
    static final int CHUNK = 16 << 20;

    private final Log log;
    private final int pid;
    /** Hashes the previous dump saved; null when it kept none (then every page counts as written). */
    private final PageHashes previous;
    private PageHashes current;
    /** The file, in the images directory, this tracker's hashes go to (one per task of a tree). */
    private final String file;

    public ContentHashTracker(Log log, int pid, PageHashes previous) {
        this(log, pid, previous, PageHashes.FILE);
    }

    public ContentHashTracker(Log log, int pid, PageHashes previous, String file) {
        this.log = log;
        this.pid = pid;
        this.previous = previous;
        this.file = file;
    }

    /** The previous hashes of a track state's directory. */
    public static PageHashes load(Path dir) throws IOException {
        return load(dir, PageHashes.FILE);
    }

    /** The previous hashes a track state names ({@code file} in its directory). */
    public static PageHashes load(Path dir, String file) throws IOException {
        return PageHashes.read(dir.resolve(file));
    }

    @Override
    public String name() {
        return "content-hash";
    }

    @Override
    public PageRanges written(TrackedTarget target, PageRanges own, List<MapsEntry> tracked) throws CryoException {
        current = hashAll(own);
        PageRanges trackedRanges = ranges(tracked);
        PageRanges.Builder out = PageRanges.builder();
        for (int i = 0; i < current.size(); i++) {
            long a = current.address(i);
            if (!trackedRanges.contains(a)) {
                continue;
            }
            if (previous == null || !previous.same(a, current.hi(i), current.lo(i))) {
                out.add(a, a + 4096);
            }
        }
        return out.build();
    }

    @Override
    public List<MapsEntry> arm(TrackedTarget target, List<MapsEntry> vmas, PageRanges own) throws CryoException {
        if (current == null) {
            current = hashAll(own);
        }
        List<MapsEntry> armed = new ArrayList<>();
        for (MapsEntry m : vmas) {
            if (DirtyTracker.trackable(m)) {
                armed.add(m);
            }
        }
        return armed;
    }

    @Override
    public Map<String, String> save(Path dir) throws CryoException {
        try {
            current.write(dir.resolve(file));
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot write " + dir.resolve(file) + ": "
                    + e.getMessage(), e);
        }
        return Map.of("hashes", file);
    }

    private PageHashes hashAll(PageRanges own) throws CryoException {
        long t0 = System.nanoTime();
        PageHashes h = new PageHashes((int) Math.min(own.pages(), Integer.MAX_VALUE - 16));
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel mem = FileChannel.open(Path.of("/proc", Integer.toString(pid), "mem"), StandardOpenOption.READ)) {
            for (int i = 0; i < own.size(); i++) {
                long at = own.start(i);
                while (at < own.end(i)) {
                    int len = (int) Math.min(CHUNK, own.end(i) - at);
                    buf.clear().limit(len);
                    while (buf.hasRemaining()) {
                        int m = mem.read(buf, at + buf.position());
                        if (m <= 0) {
                            throw new IOException("short read at " + Long.toHexString(at + buf.position()));
                        }
                    }
                    for (int off = 0; off < len; off += 4096) {
                        long[] x = PageHashes.hash(buf, off);
                        h.add(at + off, x[0], x[1]);
                    }
                    at += len;
                }
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": reading its memory to hash it failed: "
                    + e.getMessage(), e);
        }
        log.info("content-hash: hashed %d pages in %d us", h.size(), (System.nanoTime() - t0) / 1000);
        return h;
    }

    static PageRanges ranges(List<MapsEntry> vmas) {
        PageRanges.Builder b = PageRanges.builder();
        vmas.forEach(m -> b.add(m.start(), m.end()));
        return b.build();
    }
}
