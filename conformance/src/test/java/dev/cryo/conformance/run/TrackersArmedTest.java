package dev.cryo.conformance.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cryo.conformance.sandbox.SandboxKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrackersArmedTest {

    private static void track(Path dir, String tracker) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("cryo-track"), "cryo-track 1\ntracker " + tracker + "\npid 3\nstarttime 7\n");
    }

    @Test
    void namesEveryTrackerThePreDumpsOfACaseArmed(@TempDir Path work) throws IOException {
        track(work.resolve("cycle-1/pre-1"), "soft-dirty");
        track(work.resolve("cycle-1/pre-2"), "soft-dirty");
        track(work.resolve("cycle-2/pre-1"), "content-hash");
        Files.createDirectories(work.resolve("cycle-1/dump"));
        assertEquals(Set.of("content-hash", "soft-dirty"), TrackersArmed.in(work));
    }

    @Test
    void aCaseWithoutIncrementalDumpsNamesNone(@TempDir Path work) throws IOException {
        Files.createDirectories(work.resolve("cycle-1/dump"));
        assertTrue(TrackersArmed.in(work).isEmpty());
        assertTrue(TrackersArmed.in(work.resolve("missing")).isEmpty());
    }

    @Test
    void theVmMustUseSoftDirtyAndAFallBackToHashesFailsThere() {
        Optional<String> vm = SandboxKind.VAGRANT.expectedTracker();
        assertEquals(Optional.of("soft-dirty"), vm);
        assertTrue(TrackersArmed.unexpected(Set.of("soft-dirty"), vm).isEmpty());
        assertTrue(TrackersArmed.unexpected(Set.of(), vm).isEmpty(), "no incremental dump: nothing to judge");
        String why = TrackersArmed.unexpected(Set.of("content-hash"), vm).orElseThrow();
        assertTrue(why.contains("content-hash") && why.contains("soft-dirty"), why);
        assertTrue(TrackersArmed.unexpected(Set.of("soft-dirty", "content-hash"), vm).isPresent());
    }

    @Test
    void onTheHostWhateverTheKernelOffersIsRight() {
        assertTrue(SandboxKind.NATIVE.expectedTracker().isEmpty());
        assertTrue(TrackersArmed.unexpected(Set.of("uffd-wp"), SandboxKind.NATIVE.expectedTracker()).isEmpty());
        assertTrue(TrackersArmed.unexpected(Set.of("content-hash"), SandboxKind.DOCKER.expectedTracker()).isEmpty());
    }
}
