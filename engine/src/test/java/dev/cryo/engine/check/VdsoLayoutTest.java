package dev.cryo.engine.check;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VdsoLayoutTest {
    private static final String KERNEL_6_18 = """
            7ffd1b9e2000-7ffd1ba03000 rw-p 00000000 00:00 0                          [stack]
            7ffd1ba3a000-7ffd1ba3e000 r--p 00000000 00:00 0                          [vvar]
            7ffd1ba3e000-7ffd1ba40000 r--p 00000000 00:00 0                          [vvar_vclock]
            7ffd1ba40000-7ffd1ba42000 r-xp 00000000 00:00 0                          [vdso]
            ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
            """;

    @Test
    void splitVvarLayoutIsMovable() {
        VdsoLayout layout = VdsoLayout.parse(KERNEL_6_18);
        assertEquals("[vvar] 4 pages, [vvar_vclock] 2 pages, [vdso] 2 pages, adjacent", layout.describe());
        assertTrue(layout.movable());
    }

    @Test
    void olderLayoutWithoutVclockIsMovableToo() {
        VdsoLayout layout = VdsoLayout.parse("""
                7fff6a5fb000-7fff6a5ff000 r--p 00000000 00:00 0   [vvar]
                7fff6a5ff000-7fff6a601000 r-xp 00000000 00:00 0   [vdso]
                """);
        assertEquals("[vvar] 4 pages, [vdso] 2 pages, adjacent", layout.describe());
        assertTrue(layout.movable());
    }

    @Test
    void gapBetweenMappingsIsNotMovable() {
        VdsoLayout layout = VdsoLayout.parse("""
                7ffd1ba3a000-7ffd1ba3e000 r--p 00000000 00:00 0   [vvar]
                7ffd1ba50000-7ffd1ba52000 r-xp 00000000 00:00 0   [vdso]
                """);
        assertFalse(layout.contiguous());
        assertFalse(layout.movable());
        assertTrue(layout.describe().endsWith("not adjacent"), layout.describe());
    }

    @Test
    void noVdsoIsNotMovable() {
        VdsoLayout layout = VdsoLayout.parse("00400000-00401000 r-xp 00000000 08:01 1 /bin/true\n");
        assertFalse(layout.movable());
        assertEquals("no [vdso] or [vvar] in /proc/self/maps", layout.describe());
    }

    @Test
    void thisProcessHasAVdso() throws Exception {
        assertTrue(VdsoLayout.ofSelf().hasVdso(), "every Linux process has a [vdso]");
    }
}
