package dev.cryo.conformance.check;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cryo.conformance.proc.ProcSnapshot.MapRow;
import java.util.List;
import org.junit.jupiter.api.Test;

class MapsUnchangedTest {
    @Test
    void coalescingJoinsOnlyAdjacentAnonymousPrivateMappingsWithEqualProtections() {
        List<MapRow> split = List.of(
                new MapRow(7, "1000-3000", "rw-p", "00000000", ""),
                new MapRow(7, "3000-8000", "rw-p", "00000000", ""),
                new MapRow(7, "8000-9000", "r--p", "00000000", ""),
                new MapRow(7, "9000-a000", "r--p", "00001000", "/usr/bin/memory"),
                new MapRow(7, "b000-c000", "r--p", "00000000", ""));
        assertEquals(List.of("pid 7 1000-8000 rw-p 00000000", "pid 7 8000-9000 r--p 00000000",
                "pid 7 9000-a000 r--p 00001000 /usr/bin/memory", "pid 7 b000-c000 r--p 00000000"),
                MapsUnchanged.coalesced(split));
    }
}
