package dev.cryo.engine.resource;

import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.mnt_entry;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The mount namespace of a runc 1.1.5 counter container (engine/docs/containers.md): its init's mountinfo, and the
 * {@code mountpoints-13.img} CRIU 4.2 wrote for it when runc checkpointed it with the same {@code ext_mnt} map.
 * Cryo's entries must be CRIU's, field for field, in CRIU's order.
 */
class MountNamespaceTest {
    /** runc's ext_mnt of that checkpoint: mountpoint -> key (the /dev nodes it names are not mounts there). */
    private static Map<String, String> runcExternalMounts() {
        Map<String, String> m = new LinkedHashMap<>();
        for (String c : List.of("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                "systemd")) {
            m.put("/sys/fs/cgroup/" + c, "/sys/fs/cgroup/" + c);
        }
        m.put("/out", "/out");
        m.put("/proc/keys", "/dev/null");
        m.put("/proc/timer_list", "/dev/null");
        for (String d : List.of("null", "random", "full", "tty", "zero", "urandom")) {
            m.put("/dev/" + d, "/dev/" + d);
        }
        return m;
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = MountNamespaceTest.class.getResourceAsStream(name)) {
            return in.readAllBytes();
        }
    }

    @Test
    void runcContainerMountsAreWhatCriuWrote() throws IOException {
        String mountinfo = new String(resource("runc-counter.mountinfo"), StandardCharsets.UTF_8);
        List<mnt_entry> criu = ImageFile.read("mountpoints-13.img", resource("runc-counter.criu-4.2.mountpoints.img"))
                .entries(mnt_entry.class);
        List<mnt_entry> cryo = MountNamespace.entries(mountinfo, runcExternalMounts());
        assertEquals(criu.size(), cryo.size(), "one entry per mountinfo line");
        for (int i = 0; i < criu.size(); i++) {
            assertEquals(criu.get(i), cryo.get(i), "entry " + i + " (" + criu.get(i).getMountpoint() + ")");
        }
    }

    @Test
    void theRootIsNeverExternal() {
        mnt_entry root = MountNamespace.entry("202 125 254:0 /tmp/b/rootfs / rw,relatime - ext4 /dev/vda rw",
                Map.of("/", "/"));
        assertFalse(root.hasExtKey());
    }

    @Test
    void escapedPathsAndOptionalFields() {
        mnt_entry e = MountNamespace.entry("30 20 0:40 /a\\040b /mnt/x\\011y rw,noatime shared:7 master:3 - tmpfs "
                + "tmpfs rw,size=4k", Map.of());
        assertEquals("/a b", e.getRoot());
        assertEquals("/mnt/x\ty", e.getMountpoint());
        assertEquals(7, e.getSharedId());
        assertEquals(3, e.getMasterId());
        assertEquals(MountNamespace.MS_NOATIME, e.getFlags());
        assertEquals("size=4k", e.getOptions());
    }

    @Test
    void aBrokenLineIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MountNamespace.entries("1 0 8:1 / / rw - ext4 /dev/sda rw\n2 1 x / /proc rw\n", Map.of()));
        assertEquals(true, e.getMessage().startsWith("line 2 "), e.getMessage());
    }
}
