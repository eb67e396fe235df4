package dev.cryo.conformance.property;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cryo.conformance.cases.VmaChange;
import dev.cryo.conformance.property.ScenarioProperty.Finding;
import org.junit.jupiter.api.Test;

/** Shrinking and replay of the scenario properties, over plain predicates (no sandbox). */
class ScenarioPropertyTest {
    private final ScenarioProperty counter = Properties.counterScenarios();
    private final ScenarioProperty memory = Properties.memoryScenarios();
    private final ScenarioProperty churn = Properties.memoryChurn();

    @Test
    void aFailureShrinksToTheSmallestFailingScenario() {
        Finding finding = counter.check(7, 200, 500, s -> s.cycles() < 3);
        assertFalse(finding.held());
        assertTrue(finding.smallest().startsWith("3 cycles,"), finding.smallest());
        assertTrue(finding.smallest().contains("dump after 0 ms"), finding.smallest());
    }

    @Test
    void withoutShrinkCyclesTheFailureIsStillSimplifiedStepByStep() {
        Finding finding = memory.check(1234, 50, 0, s -> s.preDumps() == 0);
        assertFalse(finding.held());
        assertEquals("1 cycle, 1 pre-dump, dump after 0 ms", finding.smallest());
    }

    @Test
    void theSameSeedReplaysTheSameFinding() {
        Finding first = memory.check(1234, 50, 100, s -> s.preDumps() < 2 || s.writes().isEmpty());
        Finding again = memory.check(1234, 50, 100, s -> s.preDumps() < 2 || s.writes().isEmpty());
        assertFalse(first.held());
        assertEquals(first.smallest(), again.smallest());
    }

    @Test
    void churnDrawsUpToFivePreDumpsWithEveryKindOfVmaChangeBetweenThem() {
        java.util.Set<Integer> preDumps = new java.util.TreeSet<>();
        java.util.Set<VmaChange.Kind> kinds = java.util.EnumSet.noneOf(VmaChange.Kind.class);
        Finding finding = churn.check(5, 300, 0, s -> {
            preDumps.add(s.preDumps());
            assertEquals(s.preDumps(), s.writes().size(), "one step of writes and VMA changes after each pre-dump: " + s);
            s.writes().forEach(w -> w.vmaChanges().forEach(c -> kinds.add(c.kind())));
            return true;
        });
        assertTrue(finding.held());
        assertEquals(java.util.Set.of(0, 1, 2, 3, 4, 5), preDumps);
        assertEquals(java.util.EnumSet.allOf(VmaChange.Kind.class), kinds);
    }

    @Test
    void aChurnFailureShrinksAndReplaysFromItsSeed() {
        java.util.function.Predicate<dev.cryo.conformance.cases.Scenario> noMremap = s -> s.writes().stream()
                .noneMatch(w -> w.vmaChanges().stream().anyMatch(c -> c.kind() == VmaChange.Kind.MREMAP));
        Finding first = churn.check(4321, 100, 200, noMremap);
        assertFalse(first.held());
        // shrunk to one mremap, no other change, no page written, dumped at once
        String smallest = first.smallest();
        assertEquals(1, smallest.split("mremap@", -1).length - 1, smallest);
        assertFalse(smallest.matches(".*(mmap|munmap|mprotect)@.*"), smallest);
        assertFalse(smallest.matches(".*[\\[ +][1-9][0-9]*@.*"), smallest);
        assertTrue(smallest.startsWith("1 cycle,") && smallest.endsWith("dump after 0 ms"), smallest);
        assertEquals(smallest, churn.check(4321, 100, 200, noMremap).smallest());
    }

    @Test
    void aPropertyThatHoldsRunsItsExamples() {
        Finding finding = memory.check(99, 25, 10, s -> true);
        assertTrue(finding.held());
        // QuickTheories may skip a value it already tried; it never runs more than asked
        assertTrue(finding.examples() > 0 && finding.examples() <= 25, "ran " + finding.examples());
    }
}
