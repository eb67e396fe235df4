package dev.cryo.engine;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.testing.Checkpoint;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;

/**
 * Drawn: 1 to 64 threads, each in one of the fixture's states (TLS counter with own mask, altstack and pending
 * signal; condvar; nanosleep; pipe read; spinning; robust mutex holder), a dump moment, 1 to 3 cycles, with or
 * without a -R dump first, with or without a pre-dump before each dump. Holds: every thread's own check passes and
 * every tid is kept.
 */
@RootWithPtrace
class ThreadStatesPropertyTest {
    private static final String KINDS = "cvnrsm";

    @TempDir
    Path tmp;

    @Test
    void everyThreadChecksItselfAndKeepsItsTid() throws Exception {
        ThreadsRoundTripTest.fixture("threads-state");
        AtomicInteger run = new AtomicInteger();
        qt().withExamples(4).withShrinkCycles(0)
                .forAll(lists().of(integers().between(0, KINDS.length() - 1)).ofSizeBetween(1, 64),
                        integers().between(0, 300), integers().between(1, 3), integers().between(0, 3))
                .checkAssert((kinds, momentMs, cycles, options) -> {
                    boolean leaveRunningFirst = (options & 1) != 0, preDumps = (options & 2) != 0;
                    StringBuilder states = new StringBuilder();
                    kinds.forEach(k -> states.append(KINDS.charAt(k)));
                    try {
                        check(tmp.resolve("run" + run.incrementAndGet()), states.toString(), momentMs, cycles,
                                leaveRunningFirst, preDumps);
                    } catch (Exception e) {
                        throw new AssertionError("states " + states + ", moment " + momentMs + " ms, " + cycles
                                + " cycles, -R first " + leaveRunningFirst + ", pre-dumps " + preDumps + ": " + e, e);
                    }
                });
    }

    private static List<String> tids(int pid) throws Exception {
        try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/task"))) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static void check(Path dir, String states, int momentMs, int cycles, boolean leaveRunningFirst,
                              boolean preDumps) throws Exception {
        Files.createDirectories(dir);
        Target t = Target.start(Path.of("/usr/bin/env"), dir.resolve("out.txt"), "CRYO_FX_READY=" + dir.resolve("ready"),
                "CRYO_FX_RESULT=" + dir.resolve("result"), ThreadsRoundTripTest.fixture("threads-state").toString(),
                "--states=" + states);
        try (t) {
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(dir.resolve("ready")));
            List<String> before = tids(t.pid());
            // a random moment of the threads' lives: a declared pause, not a synchronisation
            await().pollDelay(Duration.ofMillis(momentMs)).atMost(Duration.ofSeconds(5)).until(() -> true);
            if (leaveRunningFirst) {
                Checkpoint.dump(t.pid(), dir.resolve("running"), true);
                assertEquals(before, tids(t.pid()), "every thread runs on after dump -R");
            }
            for (int c = 1; c <= cycles; c++) {
                Path img = dir.resolve("cycle-" + c);
                Path pre = dir.resolve("pre-" + c);
                if (preDumps) {
                    Checkpoint.dump(new DumpOptions(t.pid(), pre, true, false, true, true, false, false, null, "splice",
                            null));
                    assertEquals(before, tids(t.pid()), "every thread runs on after the pre-dump");
                }
                Checkpoint.dump(new DumpOptions(t.pid(), img, false, false, true, true, false, false,
                        preDumps ? img.resolve("..").resolve(pre.getFileName()).normalize() : null, "splice", null));
                await().atMost(Duration.ofSeconds(10)).until(() -> !t.alive());
                assertEquals(0, Checkpoint.restore(img));
                assertEquals(before, tids(t.pid()), "every tid kept after cycle " + c);
            }
            ProcessStateRoundTripTest.kill("-USR2", t.pid());
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(dir.resolve("result")));
            assertEquals("PASS", Files.readString(dir.resolve("result")).strip(), "the fixture's verdict");
        }
    }
}
