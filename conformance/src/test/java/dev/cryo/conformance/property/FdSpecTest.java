package dev.cryo.conformance.property;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The drawn fd sets keep the rules randfds imposes, and every kind is drawn. */
class FdSpecTest {
    private static final Set<String> UNPOLLABLE = Set.of("memfd", "deleted", "null", "pidfd");

    @Test
    void drawnFdsKeepTheFixturesRules() {
        Set<String> kindsSeen = new HashSet<>();
        qt().withExamples(300).forAll(lists().of(integers().between(0, Integer.MAX_VALUE)).ofSizeBetween(1, 12))
                .checkAssert(ops -> {
                    String[] fds = FdSpec.of(ops).split(",");
                    assertEquals(ops.size(), fds.length, "one fd per drawn number");
                    List<String> kinds = new ArrayList<>();
                    Set<String> signals = new HashSet<>();
                    for (String fd : fds) {
                        String[] f = fd.split(":", -1);
                        kinds.add(f[0]);
                        kindsSeen.add(f[0]);
                        switch (f[0]) {
                            case "signalfd" -> assertTrue(signals.add(f[1]), fd + ": one signalfd per signal");
                            case "epoll" -> {
                                for (String t : f[1].isEmpty() ? new String[0] : f[1].split("\\.")) {
                                    int target = Integer.parseInt(t);
                                    assertTrue(target < kinds.size() - 1, fd + ": watches earlier fds only");
                                    assertFalse(UNPOLLABLE.contains(kinds.get(target)), fd + ": a pollable fd");
                                }
                            }
                            case "pipe", "fifo", "deleted" -> assertTrue(Integer.parseInt(f[1]) <= 60000, fd);
                            case "memfd" -> assertTrue(Integer.parseInt(f[1]) <= 60000 && Integer.parseInt(f[2]) < 16, fd);
                            case "unix" -> assertTrue(Integer.parseInt(f[2]) <= 16, fd);
                            case "pidfd" -> assertTrue(Set.of("self", "child", "reaped").contains(f[1])
                                    && Set.of("nb", "b").contains(f[2]), fd);
                            default -> {
                            }
                        }
                    }
                });
        assertEquals(Set.of("eventfd", "pipe", "unix", "timerfd", "signalfd", "inotify", "epoll", "memfd", "fifo",
                "deleted", "null", "pidfd"), kindsSeen);
    }

    @Test
    void theSameDrawGivesTheSameFds() {
        List<Integer> ops = List.of(5, 77, 77, 77, 123456, 9);
        assertEquals(FdSpec.of(ops), FdSpec.of(ops));
    }

    @Test
    void simplerSetsHaveFewerFdsAndEpollsKeepTheirRemainingTargets() {
        List<String> simpler = FdSpec.simpler("pipe:3,null,eventfd:1:sem,epoll:0.2");
        assertEquals(List.of("pipe:3,null", "eventfd:1:sem,epoll:0", "pipe:3,null,eventfd:1:sem",
                "pipe:3,null,epoll:0", "pipe:3,eventfd:1:sem,epoll:0.1", "null,eventfd:1:sem,epoll:1"), simpler);
        assertEquals(List.of(), FdSpec.simpler("null"));
    }

    @Test
    void aFailureIsShrunkToTheFdThatFails() {
        ScenarioProperty fds = Properties.fds();
        ScenarioProperty.Finding f = fds.check(7, 30, 20, s -> !s.fixtureArgs().get(0).contains("memfd"));
        assertFalse(f.held());
        assertTrue(f.smallest().matches(".*--fds=memfd:\\d+:\\d+\\]?$"), f.smallest());
    }
}
