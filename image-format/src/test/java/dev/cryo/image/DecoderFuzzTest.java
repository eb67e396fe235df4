package dev.cryo.image;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzz targets for every decoder. Plain {@code mvn test} replays the committed seeds in
 * {@code DecoderFuzzTestInputs/<method>/}; {@code JAZZER_FUZZ=1 mvn -pl image-format test -Dtest=DecoderFuzzTest}
 * fuzzes. Any input must either decode or fail with an {@link ImageFormatException} naming the file and an offset;
 * whatever decodes must re-encode and re-render to the same image.
 */
class DecoderFuzzTest {
    /** Image types in a fixed order; the first input byte of {@link #everyImageType} picks one. */
    static final List<String> TYPES = Magic.all().keySet().stream()
            .filter(m -> ImageType.forMagic(m).isPresent()).sorted().toList();

    /** Decodes one image and checks the invariants every decodable image must keep. */
    static void decode(String name, byte[] data) {
        ImageFile img;
        try {
            img = ImageFile.read(name, data);
        } catch (ImageFormatException e) {
            assertNamed(e, name);
            return;
        }
        try {
            assertEquals(img, ImageFile.read(name, img.toBytes()));
            String json = CritJson.toJson(img);
            assertEquals(json, CritJson.toJson(CritJson.fromJson(json, name + ".json")));
        } catch (ImageFormatException e) {
            throw new AssertionError("a decoded image must re-encode: " + e.getMessage(), e);
        }
    }

    static void assertNamed(ImageFormatException e, String name) {
        assertEquals(name, e.file());
        assertTrue(e.offset() >= 0, e.getMessage());
        assertTrue(e.getMessage().startsWith(name + ": offset " + e.offset() + ": "), e.getMessage());
    }

    /** Body of an image of type {@code magic}: its magic(s) are prepended, the fuzzer supplies the entries. */
    static void decodeAs(String magic, String name, byte[] body) {
        Magic m = Magic.byName(magic).orElseThrow();
        byte[] head = m.leadingMagic().map(l -> ImageFileTest.le(l, m.value())).orElseGet(() -> ImageFileTest.le(m.value()));
        decode(name, ImageFileTest.concat(head, body));
    }

    /** The checksum manifest a dump writes (cryo-checksums): read or refused naming itself, never anything else. */
    @FuzzTest(maxDuration = "2m")
    void checksumManifest(byte[] data) {
        try {
            ImageChecksums.parse(data);
        } catch (ImageFormatException e) {
            assertEquals(ImageChecksums.FILE, e.file(), e.getMessage());
            assertTrue(e.offset() >= 0, e.getMessage());
        }
    }

    @FuzzTest(maxDuration = "2m")
    void anyImage(byte[] data) {
        decode("any.img", data);
    }

    @FuzzTest(maxDuration = "2m")
    void everyImageType(byte[] data) {
        if (data.length == 0) {
            return;
        }
        String magic = TYPES.get((data[0] & 0xff) % TYPES.size());
        decodeAs(magic, magic.toLowerCase() + ".img", java.util.Arrays.copyOfRange(data, 1, data.length));
    }

    @FuzzTest(maxDuration = "2m")
    void coreImage(byte[] body) {
        decodeAs("CORE", "core-1.img", body);
    }

    @FuzzTest(maxDuration = "2m")
    void mmImage(byte[] body) {
        decodeAs("MM", "mm-1.img", body);
    }

    @FuzzTest(maxDuration = "2m")
    void pagemapImage(byte[] body) {
        decodeAs("PAGEMAP", "pagemap-1.img", body);
    }

    @FuzzTest(maxDuration = "2m")
    void filesImage(byte[] body) {
        decodeAs("FILES", "files.img", body);
    }

    @FuzzTest(maxDuration = "2m")
    void inventoryImage(byte[] body) {
        decodeAs("INVENTORY", "inventory.img", body);
    }

    @FuzzTest(maxDuration = "2m")
    void payloadImages(byte[] data) {
        if (data.length == 0) {
            return;
        }
        List<String> withPayload = List.of("PIPES_DATA", "FIFO_DATA", "SK_QUEUES", "TCP_STREAM", "BPFMAP_DATA",
                "IPCNS_SHM", "IPCNS_SEM", "IPCNS_MSG", "GHOST_FILE");
        String magic = withPayload.get((data[0] & 0xff) % withPayload.size());
        decodeAs(magic, magic.toLowerCase() + ".img", java.util.Arrays.copyOfRange(data, 1, data.length));
    }

    @FuzzTest(maxDuration = "2m")
    void critJson(byte[] data) {
        String text = new String(data, StandardCharsets.UTF_8);
        ImageFile img;
        try {
            img = CritJson.fromJson(text, "fuzz.json");
        } catch (ImageFormatException e) {
            assertNamed(e, "fuzz.json");
            assertTrue(e.offset() <= text.length(), e.getMessage());
            return;
        }
        try {
            byte[] bin = img.toBytes();
            assertEquals(img, ImageFile.read("fuzz.img", bin));
            String json = CritJson.toJson(img);
            assertEquals(img, CritJson.fromJson(json, "fuzz.json"));
        } catch (ImageFormatException e) {
            throw new AssertionError("parsed JSON must encode and read back: " + e.getMessage(), e);
        }
    }

    /**
     * A 16-bit length, that many bytes of pagemap-1.img entries, then pages-N.img; every page the map names is
     * looked up.
     */
    @FuzzTest(maxDuration = "2m")
    void pageIndex(byte[] data) throws IOException {
        if (data.length < 2) {
            return;
        }
        int split = Math.min(data.length, 2 + ((data[0] & 0xff) | (data[1] & 0xff) << 8));
        byte[] pagemapBody = java.util.Arrays.copyOfRange(data, 2, split);
        byte[] pages = java.util.Arrays.copyOfRange(data, split, data.length);
        Path dir = Files.createTempDirectory("cryo-fuzz");
        try {
            ImageDir d = ImageDir.create(dir);
            Magic m = Magic.byName("PAGEMAP").orElseThrow();
            Files.write(d.resolve("pagemap-1.img"), ImageFileTest.concat(ImageFileTest.le(Magic.IMG_COMMON, m.value()), pagemapBody));
            PageIndex index;
            try {
                index = d.pageIndex(1);
            } catch (ImageFormatException e) {
                assertTrue(e.getMessage().startsWith("pagemap-1.img: offset "), e.getMessage());
                return;
            }
            Files.write(d.pagesPath(d.pagemap(1).pagesId()), pages);
            List<Long> probes = new ArrayList<>();
            for (PageMap.PageRun r : index.runs()) {
                probes.add(r.vaddr());
                probes.add(r.vaddr() + Math.max(0, Math.min(r.nrPages(), 1L << 20) - 1) * PageMap.PAGE_SIZE);
                probes.add(r.vaddr() - 1);
            }
            for (long addr : probes) {
                try {
                    if (index.locate(addr).isPresent()) {
                        assertEquals(PageMap.PAGE_SIZE, index.readPage(addr).length);
                    }
                } catch (ImageFormatException e) {
                    assertTrue(e.getMessage().contains(": offset "), e.getMessage());
                }
            }
        } finally {
            try (var s = Files.walk(dir)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
                    try {
                        Files.delete(p);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            }
        }
    }
}
