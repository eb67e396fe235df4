package dev.cryo.engine.mem;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * A 128-bit content hash of every page a dump saved, in address order: what the content-hash tracker compares
 * the next dump's pages with. Kept in the images directory as {@code cryo-page-hashes}: the magic, the count,
 * then (address, hash high, hash low) as little-endian 64-bit words.
 */
public final class PageHashes {
    public static final String FILE = "cryo-page-hashes";
    static final long MAGIC = 0x3148504f595243L; // "CRYOPH1"

    private long[] addrs;
    private long[] hi;
    private long[] lo;
    private int n;

    public PageHashes(int capacity) {
        addrs = new long[Math.max(capacity, 16)];
        hi = new long[addrs.length];
        lo = new long[addrs.length];
    }

    public int size() {
        return n;
    }

    /** Adds a page; pages must come in increasing address order. */
    public void add(long address, long h, long l) {
        if (n == addrs.length) {
            addrs = Arrays.copyOf(addrs, n * 2);
            hi = Arrays.copyOf(hi, n * 2);
            lo = Arrays.copyOf(lo, n * 2);
        }
        addrs[n] = address;
        hi[n] = h;
        lo[n] = l;
        n++;
    }

    /** Index of the page at {@code address}, or -1. */
    public int indexOf(long address) {
        int i = Arrays.binarySearch(addrs, 0, n, address);
        return i >= 0 ? i : -1;
    }

    public long address(int i) {
        return addrs[i];
    }

    public long hi(int i) {
        return hi[i];
    }

    public long lo(int i) {
        return lo[i];
    }

    /** Whether the page at {@code address} is known with exactly this hash. */
    public boolean same(long address, long h, long l) {
        int i = indexOf(address);
        return i >= 0 && hi[i] == h && lo[i] == l;
    }

    /** Hashes one page of {@code b} starting at {@code offset}: two independent multiply-rotate lanes. */
    public static long[] hash(ByteBuffer b, int offset) {
        long h1 = 0x9E3779B97F4A7C15L, h2 = 0xC2B2AE3D27D4EB4FL;
        for (int i = 0; i < 4096; i += 8) {
            long w = b.getLong(offset + i);
            h1 = Long.rotateLeft(h1 ^ (w * 0x87C37B91114253D5L), 31) * 0x4CF5AD432745937FL;
            h2 = Long.rotateLeft(h2 + (w ^ 0x52DCE729L) * 0xFF51AFD7ED558CCDL, 27) * 0xC4CEB9FE1A85EC53L + h1;
        }
        return new long[]{fmix(h1 ^ h2), fmix(h2 + 0x2545F4914F6CDD1DL * h1)};
    }

    private static long fmix(long k) {
        k ^= k >>> 33;
        k *= 0xFF51AFD7ED558CCDL;
        k ^= k >>> 33;
        k *= 0xC4CEB9FE1A85EC53L;
        return k ^ (k >>> 33);
    }

    /** Writes the hashes to {@code file}, with an image file's mode (0600 unless images are shared). */
    public void write(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16 + n * 24).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(MAGIC).putLong(n);
        for (int i = 0; i < n; i++) {
            b.putLong(addrs[i]).putLong(hi[i]).putLong(lo[i]);
        }
        dev.cryo.engine.sys.DirectFiles.write(file, b.array());
    }

    public static PageHashes read(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 16 || size > Integer.MAX_VALUE) {
                throw new IOException(file + " is not a page hash file (" + size + " bytes)");
            }
            ByteBuffer b = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining() && ch.read(b) >= 0) {
                // fill
            }
            b.flip();
            long magic = b.getLong(), count = b.getLong();
            if (magic != MAGIC || count < 0 || count * 24 != size - 16) {
                throw new IOException(file + " is not a page hash file of this version");
            }
            PageHashes h = new PageHashes((int) count);
            long prev = Long.MIN_VALUE;
            for (int i = 0; i < count; i++) {
                long a = b.getLong();
                if (a <= prev) {
                    throw new IOException(file + " is not in address order at entry " + i);
                }
                prev = a;
                h.add(a, b.getLong(), b.getLong());
            }
            return h;
        }
    }
}
