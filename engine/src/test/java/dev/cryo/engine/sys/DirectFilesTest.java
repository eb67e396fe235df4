package dev.cryo.engine.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DirectFilesTest {
    @TempDir
    Path tmp;

    @Test
    void readsWhatNioReads() throws IOException {
        Path f = tmp.resolve("small");
        Files.writeString(f, "pos:\t0\nflags:\t0100002\n");
        assertEquals(Files.readString(f), DirectFiles.readText(f.toString()));
    }

    @Test
    void readsFilesLargerThanItsBuffer() throws IOException {
        byte[] data = new byte[300_000];
        new Random(7).nextBytes(data);
        Path f = tmp.resolve("big");
        Files.write(f, data);
        assertArrayEquals(data, DirectFiles.read(f.toString()));
        assertArrayEquals(data, DirectFiles.read(f.toString())); // and again, with the grown buffer
    }

    @Test
    void readsProcFilesThatHaveNoSize() throws IOException {
        String status = DirectFiles.readText("/proc/self/status");
        assertTrue(status.startsWith("Name:"), status);
        assertTrue(status.contains("\nPid:\t" + ProcessHandle.current().pid() + "\n"), status);
    }

    @Test
    void writeCreatesReplacesAndKeepsEveryByte() throws IOException {
        Path f = tmp.resolve("core-1.img");
        DirectFiles.write(f, new byte[200_000]);
        byte[] data = "short".getBytes();
        DirectFiles.write(f, data);
        assertArrayEquals(data, Files.readAllBytes(f));
    }

    @Test
    void missingFileIsNoSuchFile() {
        String path = tmp.resolve("absent").toString();
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> DirectFiles.read(path));
        assertEquals(path, e.getFile());
        assertThrows(NoSuchFileException.class, () -> DirectFiles.readLink(path));
        assertThrows(NoSuchFileException.class, () -> DirectFiles.write(tmp.resolve("no/such/dir").toString(), new byte[1]));
    }

    @Test
    void readLinkMatchesNio() throws IOException {
        Path link = tmp.resolve("link");
        Files.createSymbolicLink(link, tmp.resolve("target with spaces and ü"));
        assertEquals(Files.readSymbolicLink(link).toString(), DirectFiles.readLink(link.toString()));
    }

    @Test
    void numericNamesListsOpenFdsInOrder() throws IOException {
        int[] fds = DirectFiles.numericNames("/proc/self/fd");
        assertTrue(fds.length >= 3, Arrays.toString(fds));
        assertEquals(0, fds[0]);
        int[] sorted = fds.clone();
        Arrays.sort(sorted);
        assertArrayEquals(sorted, fds);
        Files.createDirectories(tmp.resolve("d"));
        for (String n : new String[]{"12", "3", "x1", "40000"}) {
            Files.createFile(tmp.resolve("d").resolve(n));
        }
        assertArrayEquals(new int[]{3, 12, 40000}, DirectFiles.numericNames(tmp.resolve("d").toString()));
    }

    @Test
    void tempDirIsPrivateAndRemovedWithItsFiles() throws IOException {
        String dir = DirectFiles.makeTempDir(tmp.toString(), "cryo-rehearsal-");
        assertTrue(Files.isDirectory(Path.of(dir)), dir);
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(Path.of(dir))));
        String other = DirectFiles.makeTempDir(tmp.toString(), "cryo-rehearsal-");
        assertTrue(!other.equals(dir), "two directories, two names");
        DirectFiles.write(dir + "/core-1.img", new byte[10]);
        DirectFiles.write(dir + "/pages-1.img", new byte[10]);
        DirectFiles.removeFlatDir(dir);
        assertTrue(Files.notExists(Path.of(dir)), dir + " removed");
    }

    @Test
    void statMatchesNioForFilesAndDevices() throws IOException {
        Path f = tmp.resolve("sized");
        Files.write(f, new byte[12345]);
        for (Path p : new Path[]{f, Path.of("/dev/null"), tmp}) {
            java.util.Map<String, Object> nio = Files.readAttributes(p, "unix:mode,size");
            DirectFiles.Stat st = DirectFiles.stat(p.toString());
            assertEquals(nio.get("mode"), st.mode(), p.toString());
            assertEquals(nio.get("size"), st.size(), p.toString());
        }
        assertThrows(NoSuchFileException.class, () -> DirectFiles.stat(tmp.resolve("absent").toString()));
    }
}
