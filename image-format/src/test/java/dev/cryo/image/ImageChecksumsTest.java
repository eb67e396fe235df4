package dev.cryo.image;

import dev.cryo.image.proto.inventory_entry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The manifest of a dump's files, and the modes image files and directories get. */
class ImageChecksumsTest {
    @TempDir
    Path tmp;

    @AfterEach
    void privateAgain() {
        ImageAccess.share(false);
    }

    /** A dump-like directory: two small images and a 2.5 MiB pages file written in odd-sized pieces. */
    private ImageDir dump(Path d, byte[] pages) throws IOException {
        ImageDir dir = ImageDir.create(d);
        dir.beginDump();
        dir.writeInventory(inventory_entry.newBuilder().setImgVersion(2).build());
        dir.write("seccomp.img", ImageFile.of("SECCOMP", List.of(dev.cryo.image.proto.seccomp_entry.getDefaultInstance())));
        try (FileChannel ch = ImageAccess.create(dir.pagesPath(1));
             ImageChecksums.Sink sums = dir.checksumSink("pages-1.img")) {
            int at = 0, piece = 1;
            while (at < pages.length) {
                int n = Math.min(piece, pages.length - at);
                ByteBuffer b = ByteBuffer.wrap(pages, at, n);
                sums.update(b);
                assertEquals(at, b.position(), "the sink leaves the caller's buffer as it is");
                ch.write(b);
                at += n;
                piece = piece * 7 + 4093; // pieces that straddle block boundaries
            }
        }
        dir.commitDump();
        return dir;
    }

    private static byte[] pages(int size) {
        byte[] b = new byte[size];
        new Random(42).nextBytes(b);
        return b;
    }

    @Test
    void aCompleteDumpVerifiesAndItsManifestReadsBack() throws IOException {
        Path d = tmp.resolve("img");
        byte[] pages = pages(5 * ImageChecksums.BLOCK / 2);
        dump(d, pages);
        assertFalse(ImageChecksums.incomplete(d));
        Map<String, ImageChecksums.Sums> m = ImageChecksums.parse(Files.readAllBytes(d.resolve(ImageChecksums.FILE)));
        assertEquals(List.of("inventory.img", "pages-1.img", "seccomp.img"), List.copyOf(m.keySet()));
        assertEquals(3, m.get("pages-1.img").blocks().length);
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(pages, ImageChecksums.BLOCK, ImageChecksums.BLOCK);
        assertEquals((int) crc.getValue(), m.get("pages-1.img").blocks()[1], "one CRC per block, whatever the writes");
        assertArrayEquals(new long[]{3, pages.length + Files.size(d.resolve("inventory.img"))
                + Files.size(d.resolve("seccomp.img"))}, ImageChecksums.verify(d));
    }

    @Test
    void blocksSummedElsewhereRecordTheSameSumsAsTheBytesAndEndTheFile() throws IOException {
        byte[] pages = pages(5 * ImageChecksums.BLOCK / 2);
        int[] crcs = new int[3];
        for (int i = 0; i < 3; i++) {
            java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
            crc.update(pages, i * ImageChecksums.BLOCK, Math.min(ImageChecksums.BLOCK, pages.length - i * ImageChecksums.BLOCK));
            crcs[i] = (int) crc.getValue();
        }
        ImageChecksums byBytes = new ImageChecksums(), byBlocks = new ImageChecksums();
        byBytes.record("pages-1.img", pages);
        ImageChecksums.Sink s = byBlocks.sink("pages-1.img");
        assertThrows(IllegalArgumentException.class, () -> s.addBlocks(new int[2], pages.length), "too few sums");
        s.addBlocks(crcs, pages.length);
        assertThrows(IllegalStateException.class, () -> s.update(ByteBuffer.wrap(new byte[1])), "after a short block");
        s.close();
        assertEquals(new String(byBytes.text(), StandardCharsets.US_ASCII), new String(byBlocks.text(), StandardCharsets.US_ASCII));
    }

    @Test
    void aFlippedByteAnywhereIsNamedWithItsFileAndBlock() throws IOException {
        byte[] pages = pages(5 * ImageChecksums.BLOCK / 2);
        Path good = tmp.resolve("good");
        dump(good, pages);
        for (String name : List.of("inventory.img", "seccomp.img", "pages-1.img")) {
            long size = Files.size(good.resolve(name));
            for (long at : new long[]{0, size / 2, size - 1}) {
                Path d = tmp.resolve(name + "-" + at);
                dump(d, pages);
                flip(d.resolve(name), at);
                ImageFormatException e = assertThrows(ImageFormatException.class, () -> ImageChecksums.verify(d));
                assertEquals(name, e.file());
                assertEquals(at / ImageChecksums.BLOCK * ImageChecksums.BLOCK, e.offset(), e.getMessage());
                assertTrue(e.getMessage().contains("damaged"), e.getMessage());
            }
        }
    }

    /**
     * Images of more than {@link ImageChecksums#VERIFY_PARALLEL_MIN} bytes are checked on several threads: the
     * result is the same, and of two damaged files the first in the manifest's order is the one named.
     */
    @Test
    void aLargeDumpIsCheckedOnSeveralThreadsAndNamesItsFirstDamage() throws IOException {
        Path d = tmp.resolve("large");
        ImageDir dir = ImageDir.create(d);
        dir.beginDump();
        dir.writeInventory(inventory_entry.newBuilder().setImgVersion(2).build());
        byte[] pages = pages(3 * ImageChecksums.BLOCK);
        int files = (int) (ImageChecksums.VERIFY_PARALLEL_MIN / pages.length) + 2;
        for (int id = 1; id <= files; id++) {
            try (FileChannel ch = ImageAccess.create(dir.pagesPath(id));
                 ImageChecksums.Sink sums = dir.checksumSink(dir.pagesPath(id).getFileName().toString())) {
                ByteBuffer b = ByteBuffer.wrap(pages);
                sums.update(b);
                ch.write(b);
            }
        }
        dir.commitDump();
        long[] checked = ImageChecksums.verify(d);
        assertEquals(files + 1, checked[0]);
        assertEquals((long) files * pages.length + Files.size(d.resolve("inventory.img")), checked[1]);
        List<String> order = List.copyOf(ImageChecksums.parse(Files.readAllBytes(d.resolve(ImageChecksums.FILE))).keySet());
        String first = order.get(order.size() - 3), second = order.get(order.size() - 1);
        flip(d.resolve(second), 5);
        flip(d.resolve(first), ImageChecksums.BLOCK + 7);
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> ImageChecksums.verify(d));
        assertEquals(first, e.file(), e.getMessage());
        assertEquals(ImageChecksums.BLOCK, e.offset(), e.getMessage());
    }

    static void flip(Path file, long at) throws IOException {
        try (FileChannel ch = FileChannel.open(file, java.nio.file.StandardOpenOption.READ,
                java.nio.file.StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x10)).rewind();
            ch.write(b, at);
        }
    }

    @Test
    void truncatedMissingAndGrownFilesAreRefused() throws IOException {
        byte[] pages = pages(3 * ImageChecksums.BLOCK / 2);
        Path d = tmp.resolve("t");
        dump(d, pages);
        try (FileChannel ch = FileChannel.open(d.resolve("pages-1.img"), java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(4096);
        }
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> ImageChecksums.verify(d));
        assertEquals("pages-1.img", e.file());
        assertEquals(4096, e.offset());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());

        Path m = tmp.resolve("m");
        dump(m, pages);
        Files.delete(m.resolve("seccomp.img"));
        e = assertThrows(ImageFormatException.class, () -> ImageChecksums.verify(m));
        assertTrue(e.getMessage().startsWith("seccomp.img: offset 0: missing"), e.getMessage());

        Path g = tmp.resolve("g");
        dump(g, pages);
        Files.write(g.resolve("inventory.img"), new byte[]{1}, java.nio.file.StandardOpenOption.APPEND);
        e = assertThrows(ImageFormatException.class, () -> ImageChecksums.verify(g));
        assertTrue(e.getMessage().contains("grown"), e.getMessage());
    }

    @Test
    void aDamagedManifestIsNamed() throws IOException {
        Path d = tmp.resolve("d");
        dump(d, pages(100));
        byte[] text = Files.readAllBytes(d.resolve(ImageChecksums.FILE));
        for (int at = 0; at < text.length; at++) {
            byte[] bad = text.clone();
            bad[at] ^= 1;
            Files.write(d.resolve(ImageChecksums.FILE), bad);
            ImageFormatException e = assertThrows(ImageFormatException.class, () -> ImageChecksums.verify(d),
                    "byte " + at + " flipped");
            assertTrue(e.file().equals(ImageChecksums.FILE) || e.getMessage().contains("damaged")
                    || e.getMessage().contains("missing"), e.getMessage());
        }
        Files.write(d.resolve(ImageChecksums.FILE), new String(text, StandardCharsets.US_ASCII)
                .substring(0, text.length / 2).getBytes(StandardCharsets.US_ASCII));
        assertThrows(ImageFormatException.class, () -> ImageChecksums.verify(d));
    }

    @Test
    void aDumpThatFailsIsMarkedAndLeavesNoImages() throws IOException {
        Path d = tmp.resolve("f");
        Files.createDirectories(d);
        Files.writeString(d.resolve("dump.log"), "the log stays");
        ImageDir dir = ImageDir.create(d);
        dir.beginDump();
        dir.writeInventory(inventory_entry.newBuilder().setImgVersion(2).build());
        ImageChecksums.Sink half = dir.checksumSink("pages-1.img"); // a write that failed half-way
        Files.write(dir.pagesPath(1), new byte[100]);
        assertTrue(ImageChecksums.incomplete(d));
        dir.abandonDump();
        assertTrue(ImageChecksums.incomplete(d), "still marked");
        assertFalse(ImageChecksums.present(d));
        try (var files = Files.list(d)) {
            assertEquals(List.of("cryo-dump-incomplete", "dump.log"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        half.close();
    }

    @Test
    void imagesArePrivateUnlessShared() throws IOException {
        Path d = tmp.resolve("new/img");
        dump(d, pages(10));
        assertEquals("rwx------", mode(d));
        try (var files = Files.list(d)) {
            for (Path f : files.toList()) {
                assertEquals("rw-------", mode(f), f.toString());
            }
        }
        // a file an older dump (or CRIU) left 0644 is made private when written again
        Path old = tmp.resolve("old");
        Files.createDirectories(old);
        Files.write(old.resolve("inventory.img"), new byte[0]);
        Files.setPosixFilePermissions(old.resolve("inventory.img"), PosixFilePermissions.fromString("rw-r--r--"));
        Files.setPosixFilePermissions(old, PosixFilePermissions.fromString("rwxr-xr-x"));
        dump(old, pages(10));
        assertEquals("rw-------", mode(old.resolve("inventory.img")));
        assertEquals("rwx------", mode(old), "a directory of the user's own is made private by the dump");

        ImageAccess.share(true);
        Path s = tmp.resolve("shared");
        Files.createDirectories(s);
        Files.setPosixFilePermissions(s, PosixFilePermissions.fromString("rwxr-xr-x"));
        dump(s, pages(10));
        assertEquals("rwxr-xr-x", mode(s));
        assertEquals("rw-r--r--", mode(s.resolve("pages-1.img")));
        assertEquals("rw-r--r--", mode(s.resolve(ImageChecksums.FILE)));
    }

    @Test
    void aStickyDirectoryIsLeftAsItIs() throws IOException {
        Path d = tmp.resolve("sticky");
        Files.createDirectories(d);
        Files.setAttribute(d, "unix:mode", 01777);
        dump(d, pages(10));
        assertEquals(01777, (Integer) Files.getAttribute(d, "unix:mode") & 07777);
        assertEquals("rw-------", mode(d.resolve("inventory.img")));
    }

    private static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }
}
