package dev.cryo.image;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Every JSON file of the CRIU 4.2 reference dump survives JSON -> binary -> JSON unchanged, byte for byte. */
class ReferenceImagesTest {

    @TestFactory
    Stream<DynamicTest> referenceJsonRoundTripsThroughBinary() throws IOException {
        List<Path> files = ReferenceDump.jsonFiles();
        return files.stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> {
            String json = Files.readString(f, StandardCharsets.UTF_8).stripTrailing();
            ImageFile img = CritJson.fromJson(json, f.getFileName().toString());
            byte[] bin = img.toBytes();
            ImageFile back = ImageFile.read(f.getFileName().toString(), bin);
            assertEquals(img, back);
            assertEquals(json, CritJson.toJson(back));
        }));
    }
}
