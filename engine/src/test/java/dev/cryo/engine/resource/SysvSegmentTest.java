package dev.cryo.engine.resource;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Without CAP_IPC_OWNER (a container's root) IPC_STAT of another user's 0600 segment fails: its descriptor is read
 * from /proc/sysvipc/shm instead, which postgres's segment in the docker sandbox needed.
 */
class SysvSegmentTest {
    @Test
    void procSysvipcSaysWhatIpcStatWould() {
        List<String> lines = List.of(
                "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap",
                "         0          4   600                 65536 21702 21702      0     0     0     0     0 1796419275 1796419288 1796419275                 65536                     0",
                "   1583602          9  1600                    56  1975 10718      6   101   104   101   104 1796428074 1796428074 1796427774                  4096                     0");
        SharedMemory.Segment s = SharedMemory.sysvipcLine(lines, 9);
        assertEquals(new SharedMemory.Segment(1583602, 101, 104, 101, 104, 01600, 56), s);
        assertEquals(0, SharedMemory.sysvipcLine(lines, 4).key());
        assertNull(SharedMemory.sysvipcLine(lines, 5));
    }
}
