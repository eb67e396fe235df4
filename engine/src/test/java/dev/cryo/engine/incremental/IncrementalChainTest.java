package dev.cryo.engine.incremental;

import dev.cryo.engine.check.Feature;
import dev.cryo.engine.check.KernelCheck;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import dev.cryo.image.ImageDir;
import dev.cryo.image.proto.dump_stats_entry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Chains of depth 1 to 5 for every tracker this machine has, built from pre-dumps or from
 * {@code dump --track-mem -R}, each link after pages changed, then a final {@code dump --prev-images-dir};
 * restore from the last directory must give back every page.
 */
@RootWithPtrace
class IncrementalChainTest {
    @TempDir
    Path tmp;

    @AfterEach
    void trackersBack() {
        System.clearProperty("cryo.trackers");
    }

    static Stream<Arguments> chains() {
        List<Arguments> out = new ArrayList<>();
        for (String tracker : List.of("uffd-wp", "content-hash")) {
            for (int depth = 1; depth <= 5; depth++) {
                out.add(Arguments.of(tracker, depth, depth % 2 == 0 ? "dump --track-mem -R" : "pre-dump"));
            }
        }
        out.add(Arguments.of("uffd-wp", 3, "mixed"));
        out.add(Arguments.of("content-hash", 3, "mixed"));
        return out.stream();
    }

    static void assumeTracker(String tracker) {
        if (tracker.equals("uffd-wp")) {
            KernelCheck k = new KernelCheck();
            assumeTrue(k.probe(Feature.UFFD_WP_ASYNC).present() && k.probe(Feature.PAGEMAP_SCAN).present(),
                    "this kernel has no uffd-wp with PAGEMAP_SCAN: " + k.probe(Feature.UFFD_WP_ASYNC).detail());
        }
    }

    @ParameterizedTest(name = "{0}, chain of {1} via {2}")
    @MethodSource("chains")
    void restoreFromTheLastDumpRebuildsEveryPageOfTheChain(String tracker, int depth, String links) throws Exception {
        assumeTracker(tracker);
        System.setProperty("cryo.trackers", tracker);
        try (PatternProgram p = PatternProgram.start(tmp, depth * 31L)) {
            Path prev = null;
            for (int i = 1; i < depth; i++) {
                Path dir = tmp.resolve("link-" + i);
                boolean pre = links.equals("pre-dump") || (links.equals("mixed") && i % 2 == 1);
                if (pre) {
                    Incremental.preDump(p.pid(), dir, prev);
                } else {
                    Incremental.dump(p.pid(), dir, prev, true, true);
                }
                assertTrue(p.target.alive(), "pid " + p.pid() + " runs on after link " + i);
                p.writeRandomPages(20);
                prev = dir;
            }
            Path last = tmp.resolve("final");
            Incremental.dump(p.pid(), last, prev, false, false);
            await().atMost(Duration.ofSeconds(5)).until(() -> !p.target.alive());
            dump_stats_entry stats = Incremental.stats(last);
            if (depth > 1) {
                assertTrue(stats.getPagesSkippedParent() > 0, "pages left to the parent: " + stats);
                assertTrue(Files.isSymbolicLink(last.resolve("parent")), "a parent link");
                assertEquals(depth, ImageDir.open(last).chain().size(), "chain length");
            }
            Checkpoint.restore(last);
            p.target = Target.adopt(p.pid(), p.target.out());
            p.assertIntact(p.pid());
        }
    }
}
