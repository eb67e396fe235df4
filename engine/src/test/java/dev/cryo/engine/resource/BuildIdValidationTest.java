package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.Reaper;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.file_entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CRIU's {@code --file-validation buildid}, its default: the dump records each mapped ELF file's build-id, and a
 * restore refuses a program rebuilt to the same size (here the same code linked with another build-id), which the
 * size check alone let through; {@code --file-validation filesize} checks the size alone, as CRIU's does.
 */
@RootWithPtrace
class BuildIdValidationTest {
    private static final String ID = "0x00112233445566778899aabbccddeeff00112233",
            OTHER = "0xffeeddccbbaa99887766554433221100ffeeddcc";

    @TempDir
    Path tmp;

    @Test
    void aProgramRebuiltToTheSameSizeIsRefusedUnlessOnlyItsSizeIsChecked() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(10_000), "-Wl,--build-id=" + ID);
        Path rebuilt = Files.move(CProgram.compile(Files.createDirectory(tmp.resolve("b")), "counter", CProgram.counter(10_000),
                "-Wl,--build-id=" + OTHER), tmp.resolve("rebuilt"));
        assertEquals(Files.size(exe), Files.size(rebuilt), "the same size: the size check cannot tell them apart");
        assertEquals(ID.substring(2), ElfBuildId.hex(ElfBuildId.fields(ElfBuildId.of(exe))));
        assertNull(ElfBuildId.of(tmp.resolve("counter.c")), "not ELF: no build-id");

        Path img = tmp.resolve("img");
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            Checkpoint.dumpUntilGone(t, 3, img);
            Reaper.reap(t.pid());
            List<Integer> recorded = ImageDir.open(img).files().stream().map(file_entry::getReg)
                    .filter(r -> r.getName().equals(exe.toString())).findFirst().orElseThrow().getBuildIdList();
            assertEquals(ID.substring(2), ElfBuildId.hex(recorded), "files.img holds its build-id");
            // as CRIU writes it (and its restore checks it): four bytes a field, little-endian
            assertEquals(List.of(0x33221100, 0x77665544, 0xbbaa9988, 0xffeeddcc, 0x33221100), recorded);

            Files.move(rebuilt, exe, StandardCopyOption.REPLACE_EXISTING);
            CryoException e = assertThrows(CryoException.class, () -> Checkpoint.restore(img));
            assertTrue(e.getMessage().contains("file " + exe) && e.getMessage().contains("build-id " + OTHER.substring(2))
                    && e.getMessage().contains("had build-id " + ID.substring(2)), e.getMessage());
            await().atMost(Duration.ofSeconds(10)).until(() -> !Files.exists(Path.of("/proc/" + t.pid())));

            RestoreOptions sizeOnly = new RestoreOptions(img, true, true, true, null, null,
                    new FileOptions(false, false, FileOptions.DEFAULT_GHOST_LIMIT, false, List.of(), List.of(), false,
                            RegularFile.FILESIZE, false, false, List.of()), false, null, null, null, 0);
            assertEquals(0, Checkpoint.restore(sizeOnly), "the size alone is checked, and matches");
            Target restored = Target.adopt(t.pid(), t.out());
            try {
                assertTrue(restored.alive(), "it runs (the same code under another build-id)");
            } finally {
                restored.close();
            }
        }
    }
}
