package dev.cryo.engine.cli;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class CommandLineScanTest {
    private static int level(String... args) {
        return CommandLineScan.of(args).verbosity();
    }

    @Test
    void verbosityDefaultsToWarnings() {
        assertEquals(2, level("dump", "-t", "1"));
    }

    @Test
    void attachedNumberSetsTheLevel() {
        assertEquals(4, level("dump", "-v4"));
        assertEquals(0, level("dump", "-v0"));
        assertEquals(1, level("dump", "--verbosity=1"));
    }

    @Test
    void eachBareVAddsOne() {
        assertEquals(3, level("dump", "-v"));
        assertEquals(4, level("dump", "-v", "-v"));
        assertEquals(3, level("dump", "--verbosity"));
    }

    @Test
    void clusteredVsAddOnePerV() {
        // getopt hands "vvv" to -v as its argument; CRIU adds strlen("vvv") + 1
        assertEquals(6, level("dump", "-vvvv"));
        assertEquals(4, level("dump", "-vv"));
    }

    @Test
    void singleDashVerbosityIsVWithANonNumericArgumentMeaningZero() {
        // "-verbosity=0" is -v with "erbosity=0"; atoi gives 0
        assertEquals(0, level("dump", "-verbosity=0"));
        assertEquals(0, level("dump", "-v4", "-verbosity=4"));
    }

    @Test
    void atoiStopsAtTheFirstNonDigit() {
        assertEquals(3, level("dump", "-v3x"));
        assertEquals(0, level("dump", "-vj"));
    }

    @Test
    void verbosityInsideAClusterEndsTheCluster() {
        CommandLineScan scan = CommandLineScan.of("dump", "-Rv4", "-t", "7");
        assertEquals(4, scan.verbosity());
        assertEquals(List.of("-R", "-t", "7"), scan.arguments());
    }

    @Test
    void commandMayFollowOptions() {
        CommandLineScan scan = CommandLineScan.of("-v4", "-D", "/imgs", "-o", "dump.log", "dump", "-t", "7");
        assertEquals("dump", scan.command());
        assertEquals(4, scan.verbosity());
        assertEquals(List.of("-D", "/imgs", "-o", "dump.log", "-t", "7"), scan.arguments());
    }

    @Test
    void optionValuesAreNeverTakenForTheCommandOrForVerbosity() {
        CommandLineScan scan = CommandLineScan.of("-o", "-vlog", "--log-file", "restore", "-D", "dump", "check");
        assertEquals("check", scan.command());
        assertEquals(2, scan.verbosity());
        assertEquals(List.of("-o", "-vlog", "--log-file", "restore", "-D", "dump"), scan.arguments());
    }

    @Test
    void attachedValuesStayWithTheirOption() {
        CommandLineScan scan = CommandLineScan.of("dump", "-t42", "-D/imgs", "-xv");
        assertEquals(List.of("-t42", "-D/imgs", "-xv"), scan.arguments());
        assertEquals(2, scan.verbosity());
    }

    @Test
    void noCommandIsNull() {
        assertNull(CommandLineScan.of("--version").command());
    }
}
