package dev.cryo.engine.cli;

import dev.cryo.engine.testing.CProgram;
import dev.cryo.engine.testing.RootWithPtrace;
import dev.cryo.engine.testing.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * As CRIU's: with no {@code -o} the log goes to stderr at the default level (warnings), so a dump and a restore that
 * went well print nothing at all; "finished successfully" is an info line, there from {@code -v3} on.
 */
@RootWithPtrace
class QuietSuccessTest {
    @TempDir
    Path tmp;

    @Test
    void aDumpAndARestoreThatWorkPrintNothing() throws Exception {
        Path exe = CProgram.compile(tmp, "counter", CProgram.counter(20_000));
        Path img = Files.createDirectory(tmp.resolve("img"));
        try (Target t = Target.start(exe, tmp.resolve("out.txt"))) {
            t.awaitLines(3);
            CliRun dump = CliRun.of("dump", "-t", Integer.toString(t.pid()), "-D", img.toString());
            assertEquals(0, dump.status(), dump.toString());
            assertEquals("", dump.out() + dump.err(), "dump");
            await().atMost(Duration.ofSeconds(5)).until(() -> !t.alive());

            CliRun restore = CliRun.of("restore", "-D", img.toString(), "-d");
            assertEquals(0, restore.status(), restore.toString());
            assertEquals("", restore.out() + restore.err(), "restore");
            assertTrue(t.alive(), "restored pid " + t.pid() + " runs");

            CliRun again = CliRun.of("dump", "-t", Integer.toString(t.pid()), "-D", img.toString(), "-v3", "-R");
            assertEquals(0, again.status(), again.toString());
            assertTrue(again.err().contains("Dumping finished successfully"), again.toString());
        }
    }
}
