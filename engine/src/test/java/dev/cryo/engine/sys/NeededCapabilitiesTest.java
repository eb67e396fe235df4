package dev.cryo.engine.sys;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Who may run a dump or a restore, read from /proc/self/status as a user's shell would give it. */
class NeededCapabilitiesTest {
    private static String status(String uid, String capEff) {
        return "Name:\tcryo\nUid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\nCapInh:\t0000000000000000\n"
                + "CapEff:\t" + capEff + "\n";
    }

    @Test
    void rootHasWhatItNeeds() {
        assertNull(NeededCapabilities.missing(status("0", "000001ffffffffff")));
    }

    @Test
    void aUserWithoutCapabilitiesIsToldWhichItLacks() {
        assertEquals("this process (uid 65534) lacks CAP_SYS_PTRACE and CAP_CHECKPOINT_RESTORE (or CAP_SYS_ADMIN)",
                NeededCapabilities.missing(status("65534", "0000000000000000")));
    }

    @Test
    void checkpointRestoreAndPtraceAreEnoughWithoutRoot() {
        long caps = 1L << 40 | 1L << 19;
        assertNull(NeededCapabilities.missing(status("1000", String.format("%016x", caps))));
        assertEquals("this process (uid 1000) lacks CAP_SYS_PTRACE",
                NeededCapabilities.missing(status("1000", String.format("%016x", 1L << 21))));
    }
}
