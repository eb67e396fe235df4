package dev.cryo.engine.sys.probe;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.cryo.engine.sys.probe.ProbeCalls.*;

/**
 * Whether the kernel tracks soft-dirty pages ({@code CONFIG_MEM_SOFT_DIRTY}), the classic tracker behind
 * {@code --track-mem}. A kernel that tracks them marks every page of a new mapping soft-dirty (pagemap
 * bit 55); one that does not never sets the bit. When the bit shows, the probe also checks that writing
 * 4 to {@code clear_refs} clears it and a write sets it again.
 */
public final class SoftDirty {
    private static final long SOFT_DIRTY = 1L << 55;

    private SoftDirty() {
    }

    public static Finding probe() {
        long page = mapAnonymous(PAGE);
        if (page < 0) {
            return Finding.no("cannot map a page to probe with: " + errno(page));
        }
        try (RandomAccessFile pagemap = new RandomAccessFile("/proc/self/pagemap", "r")) {
            at(page).putByte(0, (byte) 1);
            if ((entry(pagemap, page) & SOFT_DIRTY) == 0) {
                return Finding.no("a freshly written page shows no soft-dirty bit (pagemap bit 55)");
            }
            Files.writeString(Path.of("/proc/self/clear_refs"), "4");
            if ((entry(pagemap, page) & SOFT_DIRTY) != 0) {
                return Finding.no("writing 4 to /proc/self/clear_refs does not clear the soft-dirty bit");
            }
            at(page).putByte(0, (byte) 2);
            if ((entry(pagemap, page) & SOFT_DIRTY) == 0) {
                return Finding.no("a write after clear_refs does not set the soft-dirty bit again");
            }
            return Finding.yes("pagemap bit 55 marks written pages and clear_refs=4 resets it");
        } catch (IOException e) {
            return Finding.no("cannot probe through /proc/self: " + e.getMessage());
        } finally {
            unmap(page, PAGE);
        }
    }

    private static long entry(RandomAccessFile pagemap, long address) throws IOException {
        byte[] entry = new byte[8]; // pagemap reads whole 8-byte entries only
        pagemap.seek(address / PAGE * 8);
        pagemap.readFully(entry);
        return ByteBuffer.wrap(entry).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }
}
