package dev.cryo.conformance.check;

import dev.cryo.conformance.proc.ProcSnapshot.TaskRow;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** A pending signal on its way to a handler is not state; one that is blocked is. */
class SignalsUnchangedTest {
    private static TaskRow row(String pending, String shared, String blocked) {
        return new TaskRow(13, 13, 1, "S", pending, shared, blocked, "0000000086000006", "0000000400000a00");
    }

    @Test
    void aTimerSignalOnItsWayToItsHandlerIsNotCompared() {
        // CI once read the process just as its 20 ms POSIX timer's SIGRTMIN+1 was queued
        assertEquals(SignalsUnchanged.rows(List.of(row("0000000000000000", "0000000000000000", "0000000000000000"))),
                SignalsUnchanged.rows(List.of(row("0000000000000000", "0000000400000000", "0000000000000000"))));
    }

    @Test
    void aBlockedPendingSignalIsCompared() {
        assertNotEquals(SignalsUnchanged.rows(List.of(row("0000000000000000", "0000000000000000", "0000000000000200"))),
                SignalsUnchanged.rows(List.of(row("0000000000000200", "0000000000000000", "0000000000000200"))));
        assertNotEquals(SignalsUnchanged.rows(List.of(row("0000000000000000", "0000000000000000", "0000000000000200"))),
                SignalsUnchanged.rows(List.of(row("0000000000000000", "0000000000000200", "0000000000000200"))));
    }
}
