package dev.cryo.engine.cli;

import dev.cryo.image.CritJson;
import dev.cryo.image.ImageFile;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageCommandsTest {
    private static final String PSTREE = """
            {
                "magic": "PSTREE",
                "entries": [
                    {
                        "pid": 11096,
                        "ppid": 0,
                        "pgid": 11096,
                        "sid": 11096,
                        "threads": [
                            11096
                        ]
                    }
                ]
            }""";

    @TempDir
    Path dir;
    Path pstree;
    byte[] pstreeBytes;

    @BeforeEach
    void writeImage() throws Exception {
        ImageFile image = CritJson.fromJson(PSTREE, "pstree.json");
        pstreeBytes = image.toBytes();
        pstree = dir.resolve("pstree.img");
        Files.write(pstree, pstreeBytes);
    }

    private static void assertOneLine(CliRun run, String expected) {
        assertTrue(run.isOneLineFailure(), () -> "want one line and exit 1, got " + run);
        assertTrue(run.err().contains(expected), () -> "want '" + expected + "' in: " + run.err());
    }

    @Test
    void showPrintsAnImageAsCritShowDoes() {
        CliRun run = CliRun.of("show", pstree.toString());
        assertEquals(0, run.status(), run.err());
        assertEquals(PSTREE + "\n", run.out());
    }

    @Test
    void showOfADirectoryMapsEachImageAndCountsRawPages() throws Exception {
        Files.write(dir.resolve("pages-1.img"), new byte[3 * 4096]);
        Files.writeString(dir.resolve("dump.log"), "(00.000001) not an image\n");
        CliRun run = CliRun.of("show", dir.toString());
        assertEquals(0, run.status(), run.err());
        assertTrue(run.out().startsWith("{\n    \"pages-1.img\": {\n        \"raw_pages\": 3\n    },\n"
                + "    \"pstree.img\": {\n        \"magic\": \"PSTREE\",\n"), run.out());
        assertFalse(run.out().contains("dump.log"), run.out());
        CritJson.fromJson(run.out().substring(run.out().indexOf("\"pstree.img\": ") + 14, run.out().lastIndexOf('}')),
                "nested");
    }

    @Test
    void showOfAMissingPathIsOneLine() {
        assertOneLine(CliRun.of("show", dir.resolve("gone.img").toString()), "gone.img: no such file or directory");
    }

    @Test
    void showOfANonImageIsOneLine() throws Exception {
        Path notes = Files.writeString(dir.resolve("notes.txt"), "hello, I am not an image\n");
        assertOneLine(CliRun.of("show", notes.toString()), "notes.txt: offset 0:");
    }

    @Test
    void showOfATruncatedImageIsOneLineNamingTheOffset() throws Exception {
        Path cut = dir.resolve("cut.img");
        Files.write(cut, Arrays.copyOf(pstreeBytes, pstreeBytes.length - 3));
        CliRun run = CliRun.of("show", cut.toString());
        assertOneLine(run, "cut.img: offset ");
    }

    @Test
    void showOfADirectoryWithABrokenImageIsOneLine() throws Exception {
        Files.write(dir.resolve("core-1.img"), Arrays.copyOf(pstreeBytes, 9));
        assertOneLine(CliRun.of("show", dir.toString()), "core-1.img: offset ");
    }

    @Test
    void decodeReadsStdinAndWritesOneLineJsonLikeCrit() {
        CliRun run = CliRun.withInput(pstreeBytes, "decode");
        assertEquals(0, run.status(), run.err());
        assertEquals("{\"magic\": \"PSTREE\", \"entries\": [{\"pid\": 11096, \"ppid\": 0, \"pgid\": 11096, "
                + "\"sid\": 11096, \"threads\": [11096]}]}\n", run.out());
    }

    @Test
    void decodePrettyToAFile() throws Exception {
        Path out = dir.resolve("pstree.json");
        CliRun run = CliRun.of("decode", "-i", pstree.toString(), "-o", out.toString(), "--pretty");
        assertEquals(0, run.status(), run.err());
        assertEquals(PSTREE, Files.readString(out));
        assertEquals("", run.out());
    }

    @Test
    void encodeTurnsJsonBackIntoTheSameBytes() throws Exception {
        CliRun run = CliRun.withInput(PSTREE.getBytes(StandardCharsets.UTF_8), "encode");
        assertEquals(0, run.status(), run.err());
        assertArrayEquals(pstreeBytes, run.stdout());
        Path json = Files.writeString(dir.resolve("in.json"), PSTREE), img = dir.resolve("out.img");
        assertEquals(0, CliRun.of("encode", "--in", json.toString(), "--out", img.toString()).status());
        assertArrayEquals(pstreeBytes, Files.readAllBytes(img));
    }

    @Test
    void encodeOfBadJsonIsOneLine() {
        assertOneLine(CliRun.withInput("{\"magic\": \"PSTREE\", \"entries\": [".getBytes(StandardCharsets.UTF_8),
                "encode"), "stdin: offset ");
    }
}
