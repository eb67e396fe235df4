package dev.cryo.engine.mem;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.MapsEntry;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Dirty pages from the kernel's soft-dirty bits ({@code CONFIG_MEM_SOFT_DIRTY}), CRIU's classic tracker:
 * writing 4 to /proc/PID/clear_refs clears them, a write sets a page's bit (pagemap bit 55) again, and new VMAs
 * come wholly soft-dirty. The state lives in the kernel, so it outlives Cryo and nothing is visible to the
 * program. It cannot tell Cryo's clearing from anyone else's, which is why it ranks after uffd-wp.
 */
public final class SoftDirtyTracker implements DirtyTracker {
    static final long SOFT_DIRTY = 1L << 55;

    /** What the tracker needs from the kernel; tests stand in for it where the kernel has no soft-dirty. */
    public interface Kernel {
        /** {@code pages} pagemap entries of {@code pid} from {@code start}. */
        long[] pagemap(int pid, long start, int pages) throws IOException;

        /** Clears every soft-dirty bit of {@code pid} (clear_refs = 4). */
        void clearSoftDirty(int pid) throws IOException;
    }

    /** The running kernel, through /proc. */
    public static final Kernel PROC = new Kernel() {
        @Override
        public long[] pagemap(int pid, long start, int pages) throws IOException {
            ByteBuffer b = ByteBuffer.allocateDirect(pages * 8).order(ByteOrder.nativeOrder());
            try (FileChannel ch = FileChannel.open(Path.of("/proc", Integer.toString(pid), "pagemap"),
                    StandardOpenOption.READ)) {
                long pos = (start >>> 12) * 8;
                while (b.hasRemaining() && ch.read(b, pos + b.position()) > 0) {
                    // fill
                }
            }
            long[] out = new long[pages];
            b.flip();
            b.asLongBuffer().get(out, 0, Math.min(pages, b.remaining() / 8));
            return out;
        }

        @Override
        public void clearSoftDirty(int pid) throws IOException {
            Files.writeString(Path.of("/proc", Integer.toString(pid), "clear_refs"), "4");
        }
    };

    private final Kernel kernel;
    private final int pid;

    public SoftDirtyTracker(Kernel kernel, int pid) {
        this.kernel = kernel;
        this.pid = pid;
    }

    @Override
    public String name() {
        return "soft-dirty";
    }

    @Override
    public PageRanges written(TrackedTarget target, PageRanges own, List<MapsEntry> tracked) throws CryoException {
        PageRanges.Builder out = PageRanges.builder();
        try {
            for (MapsEntry m : tracked) {
                long[] e = kernel.pagemap(pid, m.start(), m.pages());
                for (int i = 0; i < e.length; i++) {
                    if ((e[i] & SOFT_DIRTY) != 0) {
                        long a = m.start() + ((long) i << 12);
                        out.add(a, a + 4096);
                    }
                }
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": reading soft-dirty bits failed: " + e.getMessage(), e);
        }
        return out.build();
    }

    @Override
    public List<MapsEntry> arm(TrackedTarget target, List<MapsEntry> vmas, PageRanges own) throws CryoException {
        try {
            kernel.clearSoftDirty(pid);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot clear soft-dirty bits: " + e.getMessage(), e);
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
    public Map<String, String> save(Path dir) {
        return Map.of();
    }
}
