package dev.cryo.conformance.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ProcSnapshotTest {
    private static final String PROBE = """
            T 2 2 1 S 0000000000000000 0000000000000200 0000000000000200 0000000000000000 0000000000000a00
            T 2 3 1 T 0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000a00
            M 2 55d0c0000000-55d0c0001000 r--p 00000000 /work/fixtures-c/build/counter
            M 2 7ffd57eb1000-7ffd57ed2000 rw-p 00000000 [stack]
            F 2 0 /dev/null 0100000
            F 2 3 pipe:[4711] 02
            F 2 4 pipe:[4711] 01
            F 2 5 pipe:[4712] 02
            """;

    @Test
    void probeLinesBecomeTasksMapsAndFds() {
        ProcSnapshot s = ProcSnapshot.parse(PROBE);
        assertEquals(List.of("2/2", "2/3"), List.copyOf(s.taskIds()));
        assertTrue(s.tasks().get(1).stopped());
        assertEquals("[stack]", s.maps().get(1).path());
        assertEquals(4, s.fds().size());
    }

    @Test
    void anFdClosedBetweenTheListingAndItsReadlinkIsNotAnFd() {
        // docker's property-fds once failed with "after only [pid 13 fd 15 -> (flags )]"
        ProcSnapshot s = ProcSnapshot.parse(PROBE + "F 2 15  \n");
        assertEquals(ProcSnapshot.parse(PROBE).normalisedFds(), s.normalisedFds());
    }

    @Test
    void pipesCompareByWhichFdsShareThemNotByInode() {
        ProcSnapshot before = ProcSnapshot.parse(PROBE);
        ProcSnapshot restored = ProcSnapshot.parse(PROBE.replace("4711", "9001").replace("4712", "9002"));
        ProcSnapshot swapped = ProcSnapshot.parse(PROBE.replace("F 2 4 pipe:[4711]", "F 2 4 pipe:[4712]"));
        assertEquals(before.normalisedFds(), restored.normalisedFds());
        assertNotEquals(before.normalisedFds(), swapped.normalisedFds());
    }

    @Test
    void halfALineFromAProcessThatWentAwayIsIgnored() {
        assertEquals(0, ProcSnapshot.parse("T 2\nM 2 x\nF 2 zz\n").tasks().size());
    }
}
