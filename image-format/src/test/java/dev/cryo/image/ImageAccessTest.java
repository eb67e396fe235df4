package dev.cryo.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Image and log files are made 0600. A log sent to a device ({@code -o /dev/null}) was made 0600 too: /dev/null then
 * refused every other user of the machine (a postgres initdb failed on it). Only regular files get the mode.
 */
class ImageAccessTest {
    @TempDir
    Path tmp;

    @Test
    void aRegularFileIsMadePrivateWhateverItsModeWas() throws Exception {
        Path f = Files.createFile(tmp.resolve("dump.log"));
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-rw-rw-"));
        ImageAccess.create(f).close();
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    }

    @Test
    void aDeviceKeepsItsMode() throws Exception {
        Path dev = tmp.resolve("null");
        // a /dev/null of the test's own, so the machine's is never at stake
        int rc = new ProcessBuilder("mknod", "-m", "666", dev.toString(), "c", "1", "3").inheritIO().start().waitFor();
        if (rc != 0) {
            System.out.println("SKIPPED: mknod of a character device needs root (CAP_MKNOD)");
        }
        assumeTrue(rc == 0, "mknod of a character device needs root (CAP_MKNOD)");
        ImageAccess.create(dev).close();
        assertEquals("rw-rw-rw-", PosixFilePermissions.toString(Files.getPosixFilePermissions(dev)));
    }
}
