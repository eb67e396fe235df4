package dev.cryo.engine.cli;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.restore.RestoreOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Parsing only: every CRIU form lands in the right field; nothing is dumped or restored. */
class CliOptionsTest {
    @TempDir
    Path images;

    private DumpOptions dump(String... args) throws Exception {
        return ((DumpCommand) Main.parse(args)).options();
    }

    private RestoreOptions restore(String... args) throws Exception {
        return ((RestoreCommand) Main.parse(args)).options();
    }

    @Test
    void dumpLongFormsMapToTheirOptions() throws Exception {
        Files.createDirectory(images.resolve("pre"));
        DumpOptions o = dump("dump", "--tree", "4242", "--images-dir", images.toString(), "--leave-running",
                "--shell-job", "--tcp-established", "--ext-unix-sk", "--track-mem", "--prev-images-dir", "pre",
                "--pre-dump-mode", "read", "--timeout", "7", "--no-default-config");
        assertEquals(new DumpOptions(4242, images, false, true, true, true, true, true, images.resolve("pre"),
                "read", Duration.ofSeconds(7)), o);
    }

    @Test
    void dumpShortFormsMapToTheirOptions() throws Exception {
        DumpOptions o = dump("dump", "-t", "17", "-D", images.toString(), "-R", "-j", "-x");
        assertEquals(17, o.pid());
        assertEquals(images, o.imagesDir());
        assertTrue(o.leaveRunning());
        assertTrue(o.shellJob());
        assertTrue(o.extUnixSk());
    }

    @Test
    void clusteredAndAttachedShortOptionsWork() throws Exception {
        DumpOptions o = dump("dump", "-Rjt17", "-D" + images);
        assertEquals(17, o.pid());
        assertTrue(o.leaveRunning() && o.shellJob());
        assertEquals(images, o.imagesDir());
    }

    @Test
    void dumpDefaultsFollowCriu() throws Exception {
        DumpOptions o = dump("dump", "-t", "17", "-D", images.toString());
        assertFalse(o.preDump() || o.leaveRunning() || o.shellJob() || o.tcpEstablished() || o.extUnixSk()
                || o.trackMem());
        assertNull(o.prevImagesDir());
        assertEquals("splice", o.preDumpMode());
        assertEquals(Duration.ofSeconds(10), o.timeout());
    }

    @Test
    void imagesDirDefaultsToTheCurrentDirectory() throws Exception {
        assertEquals(Path.of("").toAbsolutePath(), dump("dump", "-t", "17").imagesDir());
    }

    @Test
    void preDumpSetsPreDump() throws Exception {
        DumpOptions o = dump("pre-dump", "-t", "17", "-D", images.toString(), "--track-mem");
        assertTrue(o.preDump());
        assertTrue(o.trackMem());
    }

    @Test
    void noFormsNegateBooleanOptions() throws Exception {
        DumpOptions o = dump("dump", "-t", "17", "-D", images.toString(), "-j", "--no-shell-job",
                "--tcp-established", "--no-tcp-established");
        assertFalse(o.shellJob());
        assertFalse(o.tcpEstablished());
    }

    @Test
    void prevImagesDirIsRelativeToTheImagesDir() throws Exception {
        Path dir = Files.createDirectory(images.resolve("2"));
        assertEquals(images.resolve("1"), dump("dump", "-t", "1", "-D", dir.toString(), "--prev-images-dir", "../1")
                .prevImagesDir());
        assertEquals(Path.of("/abs/prev"), dump("dump", "-t", "1", "-D", dir.toString(), "--prev-images-dir",
                "/abs/prev").prevImagesDir());
    }

    @Test
    void logFileIsRelativeToTheWorkDirWhichDefaultsToTheImagesDir() throws Exception {
        DumpCommand d = (DumpCommand) Main.parse("dump", "-t", "1", "-D", images.toString(), "-o", "dump.log");
        assertEquals(images.resolve("dump.log"), d.common.logPath());
        Path work = Files.createDirectory(images.resolve("work"));
        d = (DumpCommand) Main.parse("dump", "-t", "1", "-D", images.toString(), "-W", work.toString(), "--log-file",
                "dump.log");
        assertEquals(work.resolve("dump.log"), d.common.logPath());
        d = (DumpCommand) Main.parse("dump", "-t", "1", "-D", images.toString(), "-o", "/var/tmp/x.log");
        assertEquals(Path.of("/var/tmp/x.log"), d.common.logPath());
    }

    @Test
    void restoreLongFormsMapToTheirOptions() throws Exception {
        RestoreOptions o = restore("restore", "--images-dir", images.toString(), "--restore-detached",
                "--shell-job", "--tcp-close", "--pidfile", "pid", "--timeout", "3", "--tcp-established");
        assertEquals(new RestoreOptions(images, true, true, true, images.resolve("pid"), Duration.ofSeconds(3)), o);
    }

    @Test
    void restoreShortFormsAndDaemonAlias() throws Exception {
        assertTrue(restore("restore", "-D", images.toString(), "-d").detached());
        assertTrue(restore("restore", "-D", images.toString(), "--daemon").detached());
        assertFalse(restore("restore", "-D", images.toString(), "-d", "--no-restore-detached").detached());
        RestoreOptions o = restore("restore", "-D", images.toString(), "-j");
        assertTrue(o.shellJob());
        assertFalse(o.detached() || o.tcpClose());
        assertNull(o.pidfile());
    }

    @Test
    void pidfileIsRelativeToTheWorkDir() throws Exception {
        Path work = Files.createDirectory(images.resolve("w"));
        assertEquals(work.resolve("root.pid"), restore("restore", "-D", images.toString(), "-W", work.toString(),
                "--pidfile", "root.pid").pidfile());
    }

    @Test
    void repeatedOptionsKeepTheLastAsGetoptDoes() throws Exception {
        assertEquals(9, dump("dump", "-t", "8", "-t", "9", "-D", images.toString()).pid());
    }

    @Test
    void badValuesAreUsageErrors() {
        assertThrows(UsageError.class, () -> dump("dump", "-t", "abc", "-D", images.toString()));
        assertThrows(UsageError.class, () -> dump("dump", "-t", "0", "-D", images.toString()));
        assertThrows(UsageError.class, () -> dump("dump", "-t", "1", "-D", images.toString(),
                "--pre-dump-mode", "copy"));
        assertThrows(UsageError.class, () -> dump("dump", "-t", "1", "-D", images.toString(), "--timeout", "x"));
        assertThrows(UsageError.class, () -> dump("dump", "-D", images.toString()));
    }

    @Test
    void checkFeatureAcceptsCriuNames() throws Exception {
        CheckCommand c = (CheckCommand) Main.parse("check", "--feature", "get_rseq_conf");
        assertEquals("rseq", c.selected().orElseThrow().featureName());
        c = (CheckCommand) Main.parse("check", "--feature", "nonsense");
        assertThrows(UsageError.class, c::selected);
    }
}
