package dev.cryo.image;

import dev.cryo.image.proto.pagemap_head;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Writes DecoderFuzzTest's seed corpus from the reference dump and the samples. Run by hand: see main. */
final class SeedCorpusWriter {
    public static void main(String[] args) throws Exception {
        Path out = Path.of("src/test/resources/dev/cryo/image/DecoderFuzzTestInputs");
        List<Path> jsons = new ArrayList<>(ReferenceDump.jsonFiles());
        jsons.addAll(SampleImagesTest.samples());
        List<String> payloadTypes = List.of("PIPES_DATA", "FIFO_DATA", "SK_QUEUES", "TCP_STREAM", "BPFMAP_DATA",
                "IPCNS_SHM", "IPCNS_SEM", "IPCNS_MSG", "GHOST_FILE");
        for (Path j : jsons) {
            String base = j.getFileName().toString().replace(".json", "");
            String text = Files.readString(j);
            ImageFile img = CritJson.fromJson(text, base);
            byte[] bin = img.toBytes();
            byte[] body = Arrays.copyOfRange(bin, img.magic().leadingMagic().isPresent() ? 8 : 4, bin.length);
            write(out.resolve("critJson"), base, text.getBytes(StandardCharsets.UTF_8));
            write(out.resolve("anyImage"), base, bin);
            write(out.resolve("anyImage"), base + "-truncated", Arrays.copyOf(bin, bin.length * 2 / 3));
            write(out.resolve("everyImageType"), base, ImageFileTest.concat(
                    new byte[] {(byte) DecoderFuzzTest.TYPES.indexOf(img.magicName())}, body));
            String dedicated = switch (img.magicName()) {
                case "CORE" -> "coreImage";
                case "MM" -> "mmImage";
                case "PAGEMAP" -> "pagemapImage";
                case "FILES" -> "filesImage";
                case "INVENTORY" -> "inventoryImage";
                default -> null;
            };
            if (dedicated != null) {
                write(out.resolve(dedicated), base, body);
            }
            if (payloadTypes.contains(img.magicName())) {
                write(out.resolve("payloadImages"), base, ImageFileTest.concat(
                        new byte[] {(byte) payloadTypes.indexOf(img.magicName())}, body));
            }
            if (img.magicName().equals("PAGEMAP")) {
                writePageIndexSeed(out.resolve("pageIndex"), base, body, 3);
            }
        }
        PageMap map = new PageMap(1, List.of(PageMap.entry(0x10000, 1, PageMap.PE_PRESENT),
                PageMap.entry(0x11000, 2, PageMap.PE_PARENT), PageMap.entry(0x20000, 1, PageMap.PE_PRESENT | PageMap.PE_LAZY)));
        List<com.google.protobuf.Message> entries = new ArrayList<>();
        entries.add(pagemap_head.newBuilder().setPagesId(1).build());
        entries.addAll(map.entries());
        byte[] bin = ImageFile.of("PAGEMAP", entries).toBytes();
        writePageIndexSeed(out.resolve("pageIndex"), "small", Arrays.copyOfRange(bin, 8, bin.length), 2);
    }

    private static void writePageIndexSeed(Path dir, String name, byte[] body, int pages) throws Exception {
        byte[] data = new byte[2 + body.length + pages * PageMap.PAGE_SIZE];
        data[0] = (byte) body.length;
        data[1] = (byte) (body.length >> 8);
        System.arraycopy(body, 0, data, 2, body.length);
        for (int i = 2 + body.length; i < data.length; i++) {
            data[i] = (byte) (i / PageMap.PAGE_SIZE);
        }
        write(dir, name, data);
    }

    private static void write(Path dir, String name, byte[] data) throws Exception {
        Files.createDirectories(dir);
        Files.write(dir.resolve(name), data);
    }
}
