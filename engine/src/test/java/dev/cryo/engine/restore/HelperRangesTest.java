package dev.cryo.engine.restore;

import dev.cryo.engine.proc.MapsEntry;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The helper's mappings a new task unmaps: joined across holes, never across the vDSO block or the scratch page. */
class HelperRangesTest {
    private static MapsEntry map(long start, long end, String path) {
        return new MapsEntry(start, end, true, false, false, false, 0, 0, 0, 0, path, Set.of());
    }

    @Test
    void joinsNeighboursAcrossHolesButNotAcrossTheVdsoOrTheScratch() {
        List<MapsEntry> maps = List.of(map(0x1000, 0x3000, "/bin/helper"), map(0x5000, 0x6000, "[heap]"),
                map(0x10000, 0x12000, "/lib/libc.so"), map(0x20000, 0x21000, "[vvar]"), map(0x21000, 0x23000, "[vdso]"),
                map(0x30000, 0x31000, "[stack]"), map(0x40000, 0x41000, ""));
        List<long[]> r = TaskBuilder.helperRanges(maps, 0x8000, 0xb000); // scratch between the heap and libc
        assertEquals(3, r.size());
        assertArrayEquals(new long[]{0x1000, 0x6000}, r.get(0));
        assertArrayEquals(new long[]{0x10000, 0x12000}, r.get(1));
        assertArrayEquals(new long[]{0x30000, 0x41000}, r.get(2));
        assertEquals(2, TaskBuilder.helperRanges(maps, 0x50000, 0x53000).size()); // scratch above everything
    }
}
