package dev.cryo.engine.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CliErrorsTest {
    @TempDir
    Path images;

    private static void assertOneLine(CliRun run, String expected) {
        assertTrue(run.isOneLineFailure(), () -> "want one line and exit 1, got " + run);
        assertTrue(run.err().contains(expected), () -> "want '" + expected + "' in: " + run.err());
    }

    @Test
    void unknownOptionIsOneLineNamingIt() {
        CliRun run = CliRun.of("dump", "-t", "1", "-D", images.toString(), "--bogus");
        assertOneLine(run, "--bogus");
        assertTrue(run.err().startsWith("Error (cryo dump): "), run.err());
    }

    @Test
    void unknownShortOptionIsOneLine() {
        assertOneLine(CliRun.of("restore", "-D", images.toString(), "-Q"), "-Q");
    }

    @Test
    void missingTreeSaysThePidIsMissing() {
        assertOneLine(CliRun.of("dump", "-D", images.toString()), "pid not specified");
    }

    @Test
    void badPidIsOneLineNamingTheOption() {
        assertOneLine(CliRun.of("dump", "-t", "abc", "-D", images.toString()), "invalid argument for -t: abc");
        assertOneLine(CliRun.of("dump", "--tree", "-5", "-D", images.toString()), "-5");
        assertOneLine(CliRun.of("pre-dump", "-t", "0", "-D", images.toString()), "invalid argument for -t: 0");
    }

    @Test
    void missingOptionValueIsOneLine() {
        assertOneLine(CliRun.of("dump", "-t", "1", "-D", images.toString(), "--timeout"), "--timeout");
    }

    @Test
    void unknownCommandIsOneLine() {
        assertOneLine(CliRun.of("freeze", "-t", "1"), "unknown command: freeze");
    }

    @Test
    void noCommandIsAnError() {
        assertOneLine(CliRun.of("-v4"), "a command is required");
    }

    @Test
    void missingImagesDirIsOneLine() {
        assertOneLine(CliRun.of("dump", "-t", "1", "-D", images.resolve("nope").toString()),
                "no such directory");
        assertOneLine(CliRun.of("restore", "-D", images.resolve("nope").toString()), "no such directory");
    }

    @Test
    void engineFailureIsOneLineAndGoesToTheLog() throws Exception {
        // pid_max is at most 4194304, so this pid cannot exist: the engine must refuse on one line
        CliRun run = CliRun.of("dump", "-t", "4194305", "-D", images.toString(), "-o", "dump.log");
        assertOneLine(run, "Error (cryo dump): ");
        assertTrue(Files.readString(images.resolve("dump.log")).contains("Error"), "the log holds the error too");
    }

    @Test
    void unwritableLogIsOneLine() {
        assertOneLine(CliRun.of("dump", "-t", "4194305", "-D", images.toString(), "-o", "no/such/dir/dump.log"),
                "cannot open log file");
    }

    @Test
    void unexpectedExceptionIsOneLineWithTheTraceOnlyInTheLogAtV4() throws Exception {
        Supplier<CryoCommand> broken = () -> new BrokenCommand();
        CliRun run = CliRun.of(new byte[0], name -> broken, "broken", "-D", images.toString(), "-o", "x.log", "-v4");
        assertOneLine(run, "unexpected IllegalStateException: engine bug");
        String log = Files.readString(images.resolve("x.log"));
        assertTrue(log.contains("\tat dev.cryo.engine.cli.BrokenCommand"), log);

        run = CliRun.of(new byte[0], name -> broken, "broken", "-D", images.toString(), "-o", "y.log");
        assertOneLine(run, "unexpected IllegalStateException");
        assertFalse(Files.readString(images.resolve("y.log")).contains("\tat "), "no trace below -v4");
    }

    @Test
    void helpGoesToStdoutWithStatusZero() {
        CliRun run = CliRun.of("dump", "--help");
        assertEquals(0, run.status());
        assertTrue(run.out().contains("tcp-established"), run.out());
        assertTrue(run.out().startsWith("Usage: cryo dump"), run.out());
        assertTrue(run.out().contains("--images-dir"), run.out());
    }

    @Test
    void versionPrintsLikeCriu() {
        for (String[] args : new String[][]{{"--version"}, {"-V"}, {"dump", "-V"}, {"check", "--version"}}) {
            CliRun run = CliRun.of(args);
            assertEquals(0, run.status(), run.toString());
            assertTrue(run.out().startsWith("Version: "), run.out());
        }
    }
}
