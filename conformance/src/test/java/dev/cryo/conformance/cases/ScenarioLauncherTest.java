package dev.cryo.conformance.cases;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A restore run under a launcher: its words come first, the engine's options stay the options. */
class ScenarioLauncherTest {
    @Test
    void theLauncherIsSplitFromTheRestoreOptions() {
        Scenario s = Scenario.cycles(1, Duration.ZERO).withOptions(List.of("--external", "unix[{file:ext-ino}]"),
                List.of("--inherit-fd", "fd[7]:socket:[{file:ext-ino}]")).restoringVia(List.of("{build}/x", "--fd=7", "--"));
        assertEquals(List.of("{build}/x", "--fd=7", "--"), Scenario.launcher(s.restoreOptions()));
        assertEquals(List.of("--inherit-fd", "fd[7]:socket:[{file:ext-ino}]"), Scenario.withoutLauncher(s.restoreOptions()));
        assertEquals(List.of("--external", "unix[{file:ext-ino}]"), s.dumpOptions());
    }

    @Test
    void aScenarioWithoutLauncherRunsTheEngineAlone() {
        Scenario s = Scenario.cycles(2, Duration.ZERO).withOptions(List.of(), List.of("-j"));
        assertTrue(Scenario.launcher(s.restoreOptions()).isEmpty());
        assertEquals(List.of("-j"), Scenario.withoutLauncher(s.restoreOptions()));
    }
}
