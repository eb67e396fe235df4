package dev.cryo.conformance.engine;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** RESTORE_ENGINE: one engine's command lines for the dumps, the other's for the restores. */
class EnginePairTest {
    private record Named(String name, Path binary, Set<Feature> knownGaps, Optional<String> unusableReason)
            implements Engine {
    }

    @Test
    void dumpsWithOneRestoresWithTheOther() {
        Engine cryo = new Named("cryo", Path.of("/r/bin/cryo"), Set.of(), Optional.empty());
        Engine criu = new Named("criu", Path.of("/a/criu"), Set.of(Feature.EPOLL), Optional.empty());
        EnginePair pair = new EnginePair(cryo, criu);
        assertEquals("cryo->criu", pair.name());
        DumpRequest dump = new DumpRequest(42, Path.of("/img"), "dump.log", true, false, Optional.empty(), List.of());
        assertEquals(cryo.dump(dump), pair.dump(dump));
        assertEquals(cryo.preDump(dump), pair.preDump(dump));
        RestoreRequest restore = new RestoreRequest(Path.of("/img"), "restore.log", List.of("--tcp-close"));
        assertEquals("/a/criu", pair.restore(restore).get(0));
        assertEquals(criu.restore(restore), pair.restore(restore));
        assertEquals(Set.of(Feature.EPOLL), pair.knownGaps(), "what either cannot do");
        assertEquals(List.of(Path.of("/r/bin"), Path.of("/a")), pair.mounts());
        assertEquals(Map.of(), pair.environment());
    }

    @Test
    void unusableWhenEitherIs() {
        Engine ok = new Named("criu", Path.of("/a/criu"), Set.of(), Optional.empty());
        Engine unbuilt = new Named("cryo", Path.of("/r/bin/cryo"), Set.of(), Optional.of("not built"));
        assertEquals(Optional.of("not built"), new EnginePair(ok, unbuilt).unusableReason());
        assertEquals(Optional.of("not built"), new EnginePair(unbuilt, ok).unusableReason());
        assertEquals(Optional.empty(), new EnginePair(ok, ok).unusableReason());
    }
}
