package dev.cryo.image;

import com.google.protobuf.ByteString;
import dev.cryo.image.proto.*;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ImageFileTest {

    static byte[] le(int... words) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int w : words) {
            out.write(w);
            out.write(w >>> 8);
            out.write(w >>> 16);
            out.write(w >>> 24);
        }
        return out.toByteArray();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    static final pstree_entry INIT = pstree_entry.newBuilder().setPid(1).setPpid(0).setPgid(1).setSid(1).addThreads(1).build();

    @Test
    void ordinaryImagesStartWithTheCommonMagicThenTheirOwn() throws Exception {
        byte[] bin = ImageFile.of("PSTREE", List.of(INIT)).toBytes();
        assertArrayEquals(le(Magic.IMG_COMMON, 0x50273030), Arrays.copyOf(bin, 8));
        byte[] msg = INIT.toByteArray();
        assertArrayEquals(concat(le(Magic.IMG_COMMON, 0x50273030, msg.length), msg), bin);
    }

    @Test
    void inventoryCarriesOnlyItsOwnMagic() throws Exception {
        inventory_entry inv = inventory_entry.newBuilder().setImgVersion(2).setFdinfoPerId(true).build();
        byte[] bin = ImageFile.of("INVENTORY", List.of(inv)).toBytes();
        assertArrayEquals(le(0x58313116), Arrays.copyOf(bin, 4));
        assertEquals(inv, ImageFile.read("inventory.img", bin).entries().get(0));
    }

    @Test
    void statsUseTheServiceMagic() throws Exception {
        byte[] bin = ImageFile.of("STATS", List.of(stats_entry.getDefaultInstance())).toBytes();
        assertArrayEquals(le(Magic.IMG_SERVICE, 0x57093306), Arrays.copyOf(bin, 8));
    }

    @Test
    void imagesWithoutTheLeadingMagicStillRead() throws Exception {
        byte[] msg = INIT.toByteArray();
        ImageFile img = ImageFile.read("pstree.img", concat(le(0x50273030, msg.length), msg));
        assertEquals(List.of(INIT), img.entries());
    }

    @Test
    void pagemapStartsWithItsHead() throws Exception {
        PageMap map = new PageMap(3, List.of(PageMap.entry(0x1000, 2, PageMap.PE_PRESENT)));
        ImageFile img = ImageFile.of("PAGEMAP", List.of(pagemap_head.newBuilder().setPagesId(3).build(), map.entries().get(0)));
        ImageFile back = ImageFile.read("pagemap-1.img", img.toBytes());
        assertInstanceOf(pagemap_head.class, back.entries().get(0));
        assertInstanceOf(pagemap_entry.class, back.entries().get(1));
    }

    @Test
    void payloadFollowsItsMessage() throws Exception {
        pipe_data_entry pd = pipe_data_entry.newBuilder().setPipeId(1).setBytes(3).build();
        ImageFile img = ImageFile.ofRecords("PIPES_DATA", List.of(new ImageEntry(pd, new byte[] {1, 2, 3})));
        byte[] bin = img.toBytes();
        assertArrayEquals(new byte[] {1, 2, 3}, Arrays.copyOfRange(bin, bin.length - 3, bin.length));
        assertArrayEquals(new byte[] {1, 2, 3}, ImageFile.read("pipes-data.img", bin).payload(0));
    }

    @Test
    void payloadOfTheWrongLengthIsRefusedOnWrite() {
        pipe_data_entry pd = pipe_data_entry.newBuilder().setPipeId(1).setBytes(4).build();
        ImageFile img = ImageFile.ofRecords("PIPES_DATA", List.of(new ImageEntry(pd, new byte[] {1, 2, 3})));
        ImageFormatException e = assertThrows(ImageFormatException.class, img::toBytes);
        assertTrue(e.getMessage().contains("announces 4 payload bytes but carries 3"), e.getMessage());
    }

    @Test
    void entryOfTheWrongTypeIsRefusedOnWrite() {
        ImageFile img = ImageFile.of("CORE", List.of(INIT));
        ImageFormatException e = assertThrows(ImageFormatException.class, img::toBytes);
        assertEquals("CORE: offset 8: entry 0 is a pstree_entry where a core_entry belongs", e.getMessage());
    }

    @Test
    void missingRequiredFieldsAreRefusedOnWrite() {
        ImageFile img = ImageFile.of("PSTREE", List.of(pstree_entry.newBuilder().setPid(1).buildPartial()));
        ImageFormatException e = assertThrows(ImageFormatException.class, img::toBytes);
        assertTrue(e.getMessage().contains("misses required fields [ppid, pgid, sid]"), e.getMessage());
    }

    @Test
    void oversizedEntryNamesFileOffsetAndLimit() {
        byte[] bin = concat(le(Magic.IMG_COMMON, 0x64413049, 0, -1));
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> ImageFile.read("seccomp.img", bin));
        // the first entry is empty (size 0); the second announces 4 GiB
        assertEquals("seccomp.img: offset 12: entry size 4294967295 exceeds the 64 MiB limit", e.getMessage());
        assertEquals("seccomp.img", e.file());
        assertEquals(12, e.offset());
    }

    @Test
    void truncatedEntryIsReportedWhereItStarts() {
        byte[] bin = concat(le(Magic.IMG_COMMON, 0x50273030, 100), new byte[10]);
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> ImageFile.read("pstree.img", bin));
        assertEquals("pstree.img: offset 8: entry of 100 bytes is truncated: only 10 bytes left", e.getMessage());
    }

    @Test
    void truncatedSizeWordIsReported() {
        byte[] bin = concat(le(Magic.IMG_COMMON, 0x50273030), new byte[] {1, 0});
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> ImageFile.read("pstree.img", bin));
        assertEquals("pstree.img: offset 8: truncated entry size: 2 of 4 bytes", e.getMessage());
    }

    @Test
    void unknownMagicHintsAtRawPages() {
        ImageFormatException e = assertThrows(ImageFormatException.class,
                () -> ImageFile.read("pages-1.img", new byte[4096]));
        assertEquals("pages-1.img: offset 0: unknown magic 0x00000000 (pages-*.img files hold raw pages and have no magic)",
                e.getMessage());
    }

    @Test
    void emptyFileIsATruncatedMagic() {
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> ImageFile.read("x.img", new byte[0]));
        assertEquals("x.img: offset 0: truncated image magic: 0 of 4 bytes", e.getMessage());
    }

    @Test
    void malformedProtobufIsWrappedWithItsOffset() {
        byte[] bin = concat(le(Magic.IMG_COMMON, 0x50273030, 2), new byte[] {(byte) 0xff, (byte) 0xff});
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> ImageFile.read("pstree.img", bin));
        assertTrue(e.getMessage().startsWith("pstree.img: offset 12: malformed pstree_entry: "), e.getMessage());
    }

    @Test
    void payloadLongerThanTheFileIsRefusedBeforeAllocating() throws Exception {
        byte[] msg = pipe_data_entry.newBuilder().setPipeId(1).setBytes(-1).build().toByteArray();
        byte[] bin = concat(le(Magic.IMG_COMMON, 0x56453709, msg.length), msg, new byte[3]);
        ImageFormatException e = assertThrows(ImageFormatException.class, () -> ImageFile.read("pipes-data.img", bin));
        assertEquals("pipes-data.img: offset " + (12 + msg.length)
                + ": pipe_data_entry announces 4294967295 payload bytes but only 3 are left", e.getMessage());
    }

    @Test
    void ipcMessagesAreFramedInsideThePayload() throws Exception {
        ipc_msg m = ipc_msg.newBuilder().setMtype(1).setMsize(3).build();
        byte[] framed = concat(le(m.getSerializedSize()), m.toByteArray(), new byte[] {'a', 'b', 'c', 0, 0, 0, 0, 0});
        ipc_msg_entry e = ipc_msg_entry.newBuilder().setDesc(ipc_desc_entry.newBuilder().setKey(1).setUid(0).setGid(0)
                .setCuid(0).setCgid(0).setMode(0600).setId(1)).setQbytes(10).setQnum(1).build();
        ImageFile img = ImageFile.ofRecords("IPCNS_MSG", List.of(new ImageEntry(e, framed)));
        assertEquals(img, ImageFile.read("ipcns-msg-1.img", img.toBytes()));
        ImageFile wrongCount = ImageFile.ofRecords("IPCNS_MSG", List.of(new ImageEntry(e.toBuilder().setQnum(2).build(), framed)));
        assertThrows(ImageFormatException.class, wrongCount::toBytes);
    }

    @Test
    void unknownFieldsFromNewerCriuSurviveARoundTrip() throws Exception {
        byte[] msg = concat(INIT.toByteArray(), new byte[] {(byte) 0xf8, 0x03, 0x07}); // field 63, varint 7
        byte[] bin = concat(le(Magic.IMG_COMMON, 0x50273030, msg.length), msg);
        ImageFile img = ImageFile.read("pstree.img", bin);
        assertArrayEquals(bin, img.toBytes());
    }

    @Test
    void unixNamesKeepArbitraryBytes() throws Exception {
        unix_sk_entry sk = unix_sk_entry.newBuilder().setId(1).setIno(2).setType(1).setState(7).setFlags(0).setUflags(0)
                .setBacklog(0).setPeer(0)
                .setFown(fown_entry.newBuilder().setUid(0).setEuid(0).setSignum(0).setPidType(0).setPid(0))
                .setOpts(sk_opts_entry.newBuilder().setSoSndbuf(1).setSoRcvbuf(1).setSoSndTmoSec(0).setSoSndTmoUsec(0)
                        .setSoRcvTmoSec(0).setSoRcvTmoUsec(0))
                .setName(ByteString.copyFrom(new byte[] {0, (byte) 0xff, '=', ' '})).build();
        ImageFile img = ImageFile.of("UNIXSK", List.of(sk));
        assertEquals(img, CritJson.fromJson(CritJson.toJson(img), "unixsk.json"));
    }
}
