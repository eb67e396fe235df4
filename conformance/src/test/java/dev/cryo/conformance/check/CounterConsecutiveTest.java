package dev.cryo.conformance.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;

class CounterConsecutiveTest {

    @Test
    void aCountFromZeroWithoutGapsIsConsecutive() {
        assertNull(CounterConsecutive.firstBreak(List.of("0", "1", "2", "3")));
    }

    @Test
    void aRestartedCountIsABreak() {
        assertEquals("line 4 is '0', expected 3 after 2", CounterConsecutive.firstBreak(List.of("0", "1", "2", "0", "1")));
    }

    @Test
    void aGapIsABreak() {
        assertEquals("line 3 is '3', expected 2 after 1", CounterConsecutive.firstBreak(List.of("0", "1", "3")));
    }

    @Test
    void aRepeatIsABreak() {
        assertEquals("line 3 is '1', expected 2 after 1", CounterConsecutive.firstBreak(List.of("0", "1", "1")));
    }
}
