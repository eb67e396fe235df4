package dev.cryo.conformance.property;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cryo.conformance.property.ScenarioProperty.Finding;
import org.junit.jupiter.api.Test;

/** Shrinking and replay of the scenario properties, over plain predicates (no sandbox). */
class ScenarioPropertyTest {
    private final ScenarioProperty counter = Properties.counterScenarios();
    private final ScenarioProperty memory = Properties.memoryScenarios();

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
    void aPropertyThatHoldsRunsItsExamples() {
        Finding finding = memory.check(99, 25, 10, s -> true);
        assertTrue(finding.held());
        // QuickTheories may skip a value it already tried; it never runs more than asked
        assertTrue(finding.examples() > 0 && finding.examples() <= 25, "ran " + finding.examples());
    }
}
