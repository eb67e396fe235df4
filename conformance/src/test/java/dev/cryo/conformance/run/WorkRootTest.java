package dev.cryo.conformance.run;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Case directories must be reachable by the users real programs drop to: a private directory above them is not. */
class WorkRootTest {
    @TempDir
    Path tmp;

    @Test
    void aDirectoryUnderAPrivateOneIsNotReachable() throws Exception {
        Path closed = Files.createDirectory(tmp.resolve("clone"));
        Files.setPosixFilePermissions(closed, PosixFilePermissions.fromString("rwx------"));
        Path runs = Files.createDirectories(closed.resolve("conformance/target/runs"));
        assertFalse(CaseRunner.othersCanReach(runs));
        assertFalse(CaseRunner.othersCanReach(runs.resolve("not/made/yet")));
        Files.setPosixFilePermissions(closed, PosixFilePermissions.fromString("rwxr-x--x"));
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x"));
        assertTrue(CaseRunner.othersCanReach(runs) == CaseRunner.othersCanReach(tmp.getParent()),
                "reachable as far as the directories above the temporary one are");
        assertTrue(CaseRunner.othersCanReach(Path.of("/usr/bin")));
    }
}
