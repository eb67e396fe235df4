package dev.cryo.engine.resource;

import dev.cryo.engine.log.Log;
import dev.cryo.image.proto.file_entry;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A memfd's memfd.img inode_id is the memfd's for the whole dump. ZGC's heap (a memfd mapped three times and held
 * open) changed its maps between Cryo's look before the freeze and the frozen read: the mappings were forgotten and
 * collected again, the fd then got a second inode_id, and the files.img entry of the mapping named one memfd.img
 * did not hold ("files.img entry 1 names no memfd of memfd.img" at the restore).
 */
class MemfdIdentityTest {
    @Test
    void aMemfdKeepsItsInodeIdWhenTheMapsAreReadAgain() {
        SharedMemory.Dump d = new SharedMemory.Dump(Log.discard());
        file_entry mapped = d.memfdFile(7, 2768, "/memfd:java_heap (deleted)", "/proc/7/map_files/1000-2000",
                0x1000, 0x2000, 1, 2, 0);
        d.forget(7); // the maps changed before the freeze: read again
        int again = d.noteMemfd(7, 2768, "/memfd:java_heap (deleted)", "/proc/7/map_files/1000-2000", 0x1000, 0x2000);
        file_entry held = d.memfdFile(7, 2768, "/memfd:java_heap (deleted)", "/proc/7/fd/4", 0, 0, 36, 0x8002, 0);
        assertEquals(mapped.getMemfd().getInodeId(), again);
        assertEquals(mapped.getMemfd().getInodeId(), held.getMemfd().getInodeId(), "the fd names the same memfd");
        file_entry other = d.memfdFile(7, 2769, "/memfd:other (deleted)", "/proc/7/fd/5", 0, 0, 37, 2, 0);
        assertEquals(mapped.getMemfd().getInodeId() + 1, other.getMemfd().getInodeId(), "another memfd, another id");
    }
}
