package dev.cryo.engine.proc;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** /proc/PID/maps and smaps as the kernel prints them, parsed into {@link MapsEntry}. */
class MapsParseTest {
    static final String MAPS = """
            5573c9c54000-5573c9c56000 r--p 00000000 fe:00 260131                     /usr/bin/cat
            5573ca0da000-5573ca0fb000 rw-p 00000000 00:00 0                          [heap]
            7f2d585a8000-7f2d5866c000 rw-p 00000000 00:00 0\u0020
            7f12ec920000-7f12ec921000 rw-s 0000a000 fe:01 2146481                    /tmp/a b  c (deleted)
            7ffe62009000-7ffe6202a000 rw-p 00000000 00:00 0                          [stack]
            ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]""";

    @Test
    void mapsLines() {
        List<MapsEntry> m = ProcFs.parseMaps(MAPS);
        assertEquals(6, m.size());
        MapsEntry cat = m.get(0);
        assertEquals(0x5573c9c54000L, cat.start());
        assertEquals(0x5573c9c56000L, cat.end());
        assertTrue(cat.read() && !cat.write() && !cat.exec() && !cat.shared());
        assertEquals(0xfe, cat.devMajor());
        assertEquals(260131, cat.inode());
        assertEquals("/usr/bin/cat", cat.path());
        assertEquals("", m.get(2).path(), "an anonymous VMA: the inode, a space, the line's end");
        MapsEntry deleted = m.get(3);
        assertEquals("/tmp/a b  c (deleted)", deleted.path(), "spaces inside a name are kept");
        assertTrue(deleted.shared() && deleted.write());
        assertEquals(0xa000, deleted.offset());
        assertEquals(1, deleted.devMinor());
        assertEquals(Set.of("gd"), m.get(4).vmFlags(), "[stack] taken as growing down without smaps");
        assertEquals(0xffffffffff600000L, m.get(5).start(), "an address above Long.MAX_VALUE");
        assertTrue(m.get(5).exec(), "the last line, without a newline");
    }

    @Test
    void smapsBlocks() {
        String smaps = """
                5573ca0da000-5573ca0fb000 rw-p 00000000 00:00 0                          [heap]
                Size:                132 kB
                Rss:                   8 kB
                Anonymous:             8 kB
                VmFlags: rd wr mr mw me ac sd\u0020
                7f12ec920000-7f12ec921000 rw-s 00000000 fe:00 2146481                    /tmp/gone file (deleted)
                Size:                  4 kB
                THPeligible:           0
                VmFlags: rd wr sh mr mw me ms sd
                """;
        List<MapsEntry> s = ProcFs.parseSmaps(smaps);
        assertEquals(2, s.size());
        assertEquals(Set.of("rd", "wr", "mr", "mw", "me", "ac", "sd"), s.get(0).vmFlags());
        assertEquals("[heap]", s.get(0).path());
        assertEquals("/tmp/gone file (deleted)", s.get(1).path());
        assertEquals(Set.of("rd", "wr", "sh", "mr", "mw", "me", "ms", "sd"), s.get(1).vmFlags());
        assertEquals(List.of(), ProcFs.parseSmaps("5573ca0da000-5573ca0fb000 rw-p 00000000 00:00 0\nSize: 4 kB\n"),
                "a block without VmFlags (a kernel before 3.8, or a cut read) gives no entry");
    }

    /** A quiet process's maps and smaps name the same VMAs, smaps with their flags. */
    @Test
    void aProcesssMapsAndSmapsAgree() throws Exception {
        Process sleep = new ProcessBuilder("sleep", "30").start();
        try {
            ProcFs proc = new ProcFs();
            int pid = (int) sleep.pid();
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
                    .until(() -> proc.fastMaps(pid).stream().anyMatch(m -> m.path().endsWith("/sleep")));
            List<MapsEntry> plain = proc.fastMaps(pid), smaps = proc.maps(pid);
            assertEquals(plain.size(), smaps.size());
            for (int i = 0; i < plain.size(); i++) {
                MapsEntry a = plain.get(i), b = smaps.get(i);
                assertEquals(a.start(), b.start());
                assertEquals(a.end(), b.end());
                assertEquals(a.path(), b.path());
                assertEquals(a.inode(), b.inode());
                assertEquals(a.read(), b.vmFlags().contains("rd"), "VmFlags rd against the r of " + a);
            }
        } finally {
            sleep.destroyForcibly().waitFor();
        }
    }
}
