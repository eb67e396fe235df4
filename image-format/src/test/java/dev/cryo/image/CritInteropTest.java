package dev.cryo.image;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Cryo and Debian's crit agree on every image of the CRIU 4.2 reference dump. crit 3.17 predates some CRIU 4.x
 * fields (see {@link JsonTree#NEWER_THAN_CRIT_317}); comparisons use what crit 3.17 can express of them.
 */
class CritInteropTest {
    @TempDir
    Path tmp;

    @TestFactory
    Stream<DynamicTest> imagesCryoEncodesDecodeUnderCritToTheReferenceJson() throws IOException {
        Crit.assumeInstalled();
        return ReferenceDump.jsonFiles().stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> {
            String json = Files.readString(f, StandardCharsets.UTF_8);
            Path img = tmp.resolve(f.getFileName() + ".img");
            CritJson.fromJson(json, f.getFileName().toString()).write(img);
            Object byCrit = JsonTree.parse(Crit.decode(img));
            assertEquals(JsonTree.critView(JsonTree.parse(json)), byCrit);
        }));
    }

    @org.junit.jupiter.api.Test
    void critReadsEscapedLineEndsInUnixNamesBackExactly() throws Exception {
        Crit.assumeInstalled();
        byte[] name = {'\r', '\n', 'x', '\n', '\r', '\n'};
        ImageFile img = ImageFile.of("UNIXSK", java.util.List.of(dev.cryo.image.proto.unix_sk_entry.newBuilder()
                .setId(1).setIno(2).setType(1).setState(7).setFlags(0).setUflags(0).setBacklog(0).setPeer(0)
                .setFown(ImageRoundTripProperties.fown(0)).setOpts(ImageRoundTripProperties.SK_OPTS)
                .setName(com.google.protobuf.ByteString.copyFrom(name)).build()));
        Path json = tmp.resolve("unixsk.json");
        Files.writeString(json, CritJson.toJson(img));
        assertEquals(img, ImageFile.read("unixsk.img", Crit.encode(json, tmp.resolve("unixsk.img"))));
    }

    /**
     * seccomp.img with a chain of two filters (the thread core names the oldest, its prev the newer one, which has
     * SECCOMP_FILTER_FLAG_LOG) and a thread core in filter mode: crit decodes what Cryo writes to Cryo's own JSON,
     * and what crit encodes from that JSON is what Cryo wrote, byte for byte.
     */
    @org.junit.jupiter.api.Test
    void critReadsSeccompFiltersAndTheThreadsModeAsCryoWritesThem() throws Exception {
        Crit.assumeInstalled();
        byte[] allow = {6, 0, 0, 0, 0, 0, (byte) 0xff, 0x7f}; // BPF_RET|BPF_K SECCOMP_RET_ALLOW
        byte[] errno = {0x20, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, (byte) 201, 0, 5, 0}; // ld nr; ret ERRNO(201)
        ImageFile seccomp = ImageFile.of("SECCOMP", java.util.List.of(dev.cryo.image.proto.seccomp_entry.newBuilder()
                .addSeccompFilters(dev.cryo.image.proto.seccomp_filter.newBuilder()
                        .setFilter(com.google.protobuf.ByteString.copyFrom(allow)).setFlags(2))
                .addSeccompFilters(dev.cryo.image.proto.seccomp_filter.newBuilder()
                        .setFilter(com.google.protobuf.ByteString.copyFrom(errno)).setPrev(0).setFlags(0))
                .build()));
        ImageFile core = ImageFile.of("CORE", java.util.List.of(dev.cryo.image.proto.core_entry.newBuilder()
                .setMtype(dev.cryo.image.proto.core_entry.march.X86_64)
                .setThreadCore(dev.cryo.image.proto.thread_core_entry.newBuilder().setFutexRla(0).setFutexRlaLen(24)
                        .setSeccompMode(dev.cryo.image.proto.seccomp_mode.filter).setSeccompFilter(1))
                .build()));
        for (ImageFile img : java.util.List.of(seccomp, core)) {
            String name = img.magicName().toLowerCase();
            Path bin = tmp.resolve(name + ".img");
            img.write(bin);
            String ours = CritJson.toJson(img);
            assertEquals(JsonTree.parse(ours), JsonTree.parse(Crit.decode(bin)), name);
            Path json = tmp.resolve(name + ".json");
            Files.writeString(json, ours);
            assertEquals(img, ImageFile.read(name + ".img", Crit.encode(json, tmp.resolve(name + "-crit.img"))), name);
        }
        String decoded = Crit.decode(tmp.resolve("core.img"));
        org.junit.jupiter.api.Assertions.assertTrue(decoded.contains("\"seccomp_mode\": \"filter\"")
                && decoded.contains("\"seccomp_filter\": 1"), decoded);
    }

    @TestFactory
    Stream<DynamicTest> imagesCritEncodesDecodeUnderCryoToTheSameJson() throws IOException {
        Crit.assumeInstalled();
        return ReferenceDump.jsonFiles().stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> {
            // crit 3.17 is fed the reference as it understands it: CRIU 4.x-only fields left out, old names.
            Object critInput = JsonTree.critView(JsonTree.parse(Files.readString(f, StandardCharsets.UTF_8)));
            Path in = tmp.resolve(f.getFileName().toString());
            Files.writeString(in, Json.print(critInput));
            byte[] bin = Crit.encode(in, tmp.resolve(f.getFileName() + ".img"));
            ImageFile img = ImageFile.read(f.getFileName().toString(), bin);
            Object byCryo = JsonTree.critView(JsonTree.parse(CritJson.toJson(img)));
            assertEquals(critInput, byCryo);
            assertEquals(JsonTree.parse(Crit.decode(tmp.resolve(f.getFileName() + ".img"))), byCryo);
        }));
    }
}
