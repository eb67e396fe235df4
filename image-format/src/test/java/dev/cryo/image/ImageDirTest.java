package dev.cryo.image;

import dev.cryo.image.proto.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ImageDirTest {
    @TempDir
    Path tmp;

    private static byte[] pages(int... fills) {
        byte[] out = new byte[fills.length * PageMap.PAGE_SIZE];
        for (int i = 0; i < fills.length; i++) {
            Arrays.fill(out, i * PageMap.PAGE_SIZE, (i + 1) * PageMap.PAGE_SIZE, (byte) fills[i]);
        }
        return out;
    }

    private static byte[] page(int fill) {
        return pages(fill);
    }

    @Test
    void aTcpStreamWrittenFromADirectBufferIsTheSameFileAndIsInTheManifest() throws Exception {
        tcp_stream_entry e = tcp_stream_entry.newBuilder().setInqLen(3).setInqSeq(7).setOutqLen(5).setOutqSeq(9)
                .setOptMask(0).setSndWscale(0).setMssClamp(1460).build();
        byte[] queues = "abcdefgh".getBytes();
        ImageDir classic = ImageDir.create(tmp.resolve("classic"));
        classic.writeTcpStream(0x1f, new ImageEntry(e, queues));
        java.nio.ByteBuffer direct = java.nio.ByteBuffer.allocateDirect(16).put(queues).flip();
        ImageDir gathered = ImageDir.create(tmp.resolve("gathered"));
        gathered.writeTcpStream(0x1f, e, direct);
        assertArrayEquals(Files.readAllBytes(tmp.resolve("classic/tcp-stream-1f.img")),
                Files.readAllBytes(tmp.resolve("gathered/tcp-stream-1f.img")));
        assertEquals(8, direct.remaining(), "the caller's buffer is left as it was");
        ImageEntry back = ImageDir.open(tmp.resolve("gathered")).tcpStream(0x1f);
        assertEquals(e, back.message());
        assertArrayEquals(queues, back.payload());
        gathered.commitDump();
        assertTrue(ImageChecksums.parse(Files.readAllBytes(tmp.resolve("gathered").resolve(ImageChecksums.FILE)))
                .containsKey("tcp-stream-1f.img"));
        assertThrows(ImageFormatException.class, () -> gathered.writeTcpStream(0x20, e,
                java.nio.ByteBuffer.allocateDirect(4)), "a payload that is not the queues' length is refused");
    }

    @Test
    void typedImagesRoundTripThroughTheDirectory() throws Exception {
        ImageDir dir = ImageDir.create(tmp.resolve("dump"));
        inventory_entry inv = inventory_entry.newBuilder().setImgVersion(2).setFdinfoPerId(true).build();
        dir.writeInventory(inv);
        dir.writePstree(List.of(ImageFileTest.INIT));
        fs_entry fs = fs_entry.newBuilder().setCwdId(1).setRootId(2).setUmask(022).build();
        dir.writeFs(1, fs);
        fdinfo_entry fd = fdinfo_entry.newBuilder().setId(1).setFlags(0).setType(fd_types.REG).setFd(0).build();
        dir.writeFdinfo(2, List.of(fd));
        stats_entry st = stats_entry.newBuilder().setRestore(restore_stats_entry.newBuilder().setPagesCompared(0)
                .setPagesSkippedCow(0).setForkingTime(1).setRestoreTime(2)).build();
        dir.writeRestoreStats(st);

        ImageDir again = ImageDir.open(tmp.resolve("dump"));
        assertEquals(inv, again.inventory());
        assertEquals(List.of(ImageFileTest.INIT), again.pstree());
        assertEquals(fs, again.fs(1));
        assertEquals(List.of(fd), again.fdinfo(2));
        assertEquals(st, again.restoreStats());
        assertTrue(Files.exists(tmp.resolve("dump/fdinfo-2.img")));
        assertTrue(Files.exists(tmp.resolve("dump/stats-restore")));
    }

    @Test
    void singleEntryReaderRefusesExtraEntries() throws Exception {
        ImageDir dir = ImageDir.create(tmp);
        dir.write("fs-1.img", ImageFile.of("FS", List.of(fs_entry.newBuilder().setCwdId(1).setRootId(2).build(),
                fs_entry.newBuilder().setCwdId(1).setRootId(2).build())));
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> dir.fs(1));
        assertEquals("fs-1.img: offset 0: expected exactly one entry, found 2", e.getMessage());
    }

    @Test
    void pagesAreFoundInTheirPagesFile() throws Exception {
        ImageDir dir = ImageDir.create(tmp.resolve("d"));
        dir.writePagemap(7, new PageMap(1, List.of(
                PageMap.entry(0x10000, 2, PageMap.PE_PRESENT),
                PageMap.entry(0x20000, 1, PageMap.PE_PRESENT | PageMap.PE_LAZY))));
        Files.write(dir.pagesPath(1), pages(1, 2, 3));
        PageIndex index = dir.pageIndex(7);
        assertArrayEquals(page(1), index.readPage(0x10000));
        assertArrayEquals(page(2), index.readPage(0x11234));
        assertArrayEquals(page(3), index.readPage(0x20000));
        assertTrue(index.locate(0x12000).isEmpty());
        assertTrue(index.locate(0xf000).isEmpty());
    }

    @Test
    void pagesDumpedEarlierAreFoundThroughTheParentChain() throws Exception {
        ImageDir first = ImageDir.create(tmp.resolve("1"));
        first.writePagemap(7, new PageMap(1, List.of(PageMap.entry(0x10000, 3, PageMap.PE_PRESENT))));
        Files.write(first.pagesPath(1), pages(1, 2, 3));

        ImageDir second = ImageDir.create(tmp.resolve("2"));
        second.linkParent(tmp.resolve("1"));
        second.writePagemap(7, new PageMap(2, List.of(
                PageMap.entry(0x10000, 1, PageMap.PE_PARENT),
                PageMap.entry(0x11000, 1, PageMap.PE_PRESENT),
                PageMap.entry(0x12000, 1, PageMap.PE_PARENT))));
        Files.write(second.pagesPath(2), pages(9));

        ImageDir third = ImageDir.create(tmp.resolve("3"));
        third.linkParent(Path.of("../2"));
        third.writePagemap(7, new PageMap(3, List.of(PageMap.entry(0x10000, 3, PageMap.PE_PARENT))));
        Files.write(third.pagesPath(3), new byte[0]);

        assertEquals(3, third.chain().size());
        assertEquals(Path.of("../1"), Files.readSymbolicLink(tmp.resolve("2/parent")));
        PageIndex index = third.pageIndex(7);
        assertArrayEquals(page(1), index.readPage(0x10000));
        assertArrayEquals(page(9), index.readPage(0x11000));
        assertArrayEquals(page(3), index.readPage(0x12000));
        assertEquals(tmp.resolve("1").toRealPath(), index.locate(0x12000).orElseThrow().pagesFile().getParent());
    }

    @Test
    void parentLoopIsReportedNotFollowedForever() throws Exception {
        ImageDir a = ImageDir.create(tmp.resolve("a"));
        ImageDir b = ImageDir.create(tmp.resolve("b"));
        a.linkParent(tmp.resolve("b"));
        b.linkParent(tmp.resolve("a"));
        ImageFormatException e = assertThrows(ImageFormatException.class, a::chain);
        assertTrue(e.getMessage().contains("parent links form a loop"), e.getMessage());
        a.writePagemap(1, new PageMap(1, List.of(PageMap.entry(0, 1, PageMap.PE_PARENT))));
        b.writePagemap(1, new PageMap(1, List.of(PageMap.entry(0, 1, PageMap.PE_PARENT))));
        assertThrows(ImageFormatException.class, () -> a.pageIndex(1).locate(0));
    }

    @Test
    void pageBeyondTheEndOfThePagesFileIsAFormatError() throws Exception {
        ImageDir dir = ImageDir.create(tmp);
        dir.writePagemap(1, new PageMap(1, List.of(PageMap.entry(0x1000, 2, PageMap.PE_PRESENT))));
        Files.write(dir.pagesPath(1), pages(1));
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> dir.pageIndex(1).readPage(0x2000));
        assertEquals("pages-1.img: offset 4096: page at 0x2000 lies beyond the end of the file (4096 bytes)", e.getMessage());
    }

    @Test
    void pagemapEntriesCarryBothPageCounts() {
        pagemap_entry e = PageMap.entry(0x1000, 5, PageMap.PE_PRESENT);
        assertEquals(5, e.getCompatNrPages());
        assertEquals(5, e.getNrPages());
        pagemap_entry old = pagemap_entry.newBuilder().setVaddr(0).setCompatNrPages(4).setInParent(true).build();
        assertEquals(4, PageMap.pageCount(old));
        assertEquals(PageMap.PE_PARENT, PageMap.flags(old));
    }
}
