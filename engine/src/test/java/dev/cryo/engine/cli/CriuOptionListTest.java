package dev.cryo.engine.cli;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.resource.FileOptions;
import dev.cryo.engine.restore.RestoreOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every option of CRIU 4.2's dump, pre-dump and restore, from the list taken from CRIU 4.2 itself
 * ({@code criu-4.2-options.txt}): each one is in the command's help, and each one is read by both parsers alike.
 */
class CriuOptionListTest {
    private static final PrintStream SINK = new PrintStream(OutputStream.nullOutputStream());

    @TempDir
    Path dir;

    /** One line of the list: a long name, its argument, its short name, whether --no-NAME exists. */
    record CriuOption(String name, String argument, char shortName, boolean negatable) {
    }

    static List<CriuOption> criuOptions() throws IOException {
        try (InputStream in = CriuOptionListTest.class.getResourceAsStream("/criu-4.2-options.txt")) {
            List<CriuOption> all = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                String[] f = line.trim().split("\\s+");
                all.add(new CriuOption(f[0], f[1], f[2].equals("-") ? 0 : f[2].charAt(0), f[3].equals("negatable")));
            }
            return all;
        }
    }

    @Test
    void theListIsCriusWholeTable() throws IOException {
        List<CriuOption> all = criuOptions();
        assertEquals(81, all.size(), "options in criu-4.2-options.txt");
        assertTrue(all.stream().anyMatch(o -> o.name().equals("manage-cgroups") && o.argument().equals("optional")));
    }

    private static void helpNamesEveryOption(String command) throws IOException {
        CliRun run = CliRun.of(command, "--help");
        assertEquals(0, run.status(), run.toString());
        String help = run.out();
        List<String> missing = new ArrayList<>();
        for (CriuOption o : criuOptions()) {
            boolean named = help.contains("--" + o.name()) || help.contains("--[no-]" + o.name());
            if (!named) {
                missing.add("--" + o.name());
            }
            if (o.negatable() && !help.contains("--[no-]" + o.name())) {
                missing.add("--no-" + o.name());
            }
            if (o.shortName() != 0 && !help.contains("-" + o.shortName() + ", ")) {
                missing.add("-" + o.shortName());
            }
        }
        assertEquals(List.of(), missing, "CRIU 4.2 options missing from cryo " + command + " --help");
    }

    @Test
    void dumpHelpNamesEveryCriuOption() throws IOException {
        helpNamesEveryOption("dump");
    }

    @Test
    void preDumpHelpNamesEveryCriuOption() throws IOException {
        helpNamesEveryOption("pre-dump");
    }

    @Test
    void restoreHelpNamesEveryCriuOption() throws IOException {
        helpNamesEveryOption("restore");
    }

    /** A value CRIU takes for each option with an argument. */
    private String value(String name) throws IOException {
        return switch (name) {
            case "tree", "timeout", "status-fd", "ps-socket", "port", "close" -> "7";
            case "images-dir", "work-dir", "prev-images-dir", "root", "libdir", "cgroup-yard" -> dir.toString();
            case "manage-cgroups" -> "full";
            case "cpu-cap" -> "fpu";
            case "network-lock" -> "skip";
            case "file-validation" -> "filesize";
            case "empty-ns" -> "net";
            case "ext-mount-map" -> "/out:/tmp/out";
            case "inherit-fd" -> "fd[3]:pipe:[4242]";
            case "ghost-limit" -> "2M";
            case "pre-dump-mode" -> "read";
            case "join-ns" -> "net:/proc/self/ns/net";
            case "lsm-profile" -> "apparmor:unconfined";
            case "config" -> {
                Path conf = dir.resolve("c.conf");
                if (!Files.exists(conf)) {
                    Files.writeString(conf, "# a comment\n");
                }
                yield conf.toString();
            }
            case "ext-unix-sk" -> "1234";
            default -> "v";
        };
    }

    /** The spellings of one option getopt accepts: short, long, attached, --no-. */
    private List<List<String>> spellings(CriuOption o) throws IOException {
        List<List<String>> out = new ArrayList<>();
        String v = value(o.name());
        switch (o.argument()) {
            case "none" -> {
                out.add(List.of("--" + o.name()));
                if (o.shortName() != 0) {
                    out.add(List.of("-" + o.shortName()));
                }
                if (o.negatable()) {
                    out.add(List.of("--no-" + o.name()));
                }
            }
            case "required" -> {
                out.add(List.of("--" + o.name(), v));
                out.add(List.of("--" + o.name() + "=" + v));
                if (o.shortName() != 0) {
                    out.add(List.of("-" + o.shortName(), v));
                    out.add(List.of("-" + o.shortName() + v));
                }
            }
            default -> {
                out.add(List.of("--" + o.name()));
                out.add(List.of("--" + o.name() + "=" + v));
                if (o.shortName() != 0) {
                    out.add(List.of("-" + o.shortName()));
                    out.add(List.of("-" + o.shortName() + v));
                }
            }
        }
        return out;
    }

    private static final Set<String> ANSWERED_BY_PICOCLI = Set.of("help", "version", "verbosity");

    private void bothParsersRead(Supplier<CryoCommand> factory) throws Exception {
        for (CriuOption o : criuOptions()) {
            if (ANSWERED_BY_PICOCLI.contains(o.name())) {
                continue;
            }
            for (List<String> spelling : spellings(o)) {
                // through the first pass too, as a real command line goes
                List<String> args = new ArrayList<>(List.of("dump"));
                args.addAll(spelling);
                args.addAll(List.of("-t", "17"));
                CommandLineScan scan = CommandLineScan.of(args.toArray(String[]::new));
                assertEquals("dump", scan.command(), "command word of " + args);
                List<String> line = scan.arguments();
                CryoCommand quick = factory.get(), full = factory.get();
                assertTrue(QuickParse.parse(line, (QuickParse.Target) quick), "quick reader declined " + line);
                assertTrue(PicocliParse.read(full, "x", line, SINK), "picocli took " + line + " for help");
                assertEquals(QuickParseTest.fields(full), QuickParseTest.fields(quick), "the readers differ on " + line);
            }
        }
    }

    @Test
    void everyOptionParsesInBothReadersForDump() throws Exception {
        bothParsersRead(() -> new DumpCommand(false));
    }

    @Test
    void everyOptionParsesInBothReadersForRestore() throws Exception {
        bothParsersRead(RestoreCommand::new);
    }

    /** Options that ask for what cryo does not have: refused in one line that names the option. */
    private static final Map<String, Set<String>> REFUSED = Map.of(
            "dump", Set.of("lazy-pages", "page-server", "stream", "ms"),
            "restore", Set.of("lazy-pages", "page-server", "stream", "ms", "restore-sibling",
                    "lsm-profile"));

    private void everyOptionIsAcceptedOrRefusedByName(String command) throws Exception {
        for (CriuOption o : criuOptions()) {
            if (ANSWERED_BY_PICOCLI.contains(o.name())) {
                continue;
            }
            List<String> args = new ArrayList<>(List.of(command, "-t", "17", "-D", dir.toString()));
            args.addAll(spellings(o).get(0));
            if (o.name().equals("exec-cmd") && command.equals("restore")) {
                args.addAll(List.of("--", "/bin/true"));
            }
            Object options;
            if (REFUSED.get(command.equals("restore") ? "restore" : "dump").contains(o.name())) {
                UsageError e = assertThrows(UsageError.class, () -> options(args), "--" + o.name() + " refused");
                assertTrue(e.getMessage().contains("--" + o.name()), e.getMessage());
                continue;
            }
            options = options(args);
            assertTrue(options != null, "--" + o.name());
        }
    }

    private static Object options(List<String> args) throws Exception {
        CryoCommand c = Main.parse(args.toArray(String[]::new));
        if (c instanceof DumpCommand d) {
            return d.options();
        }
        return ((RestoreCommand) c).options();
    }

    @Test
    void dumpAcceptsEveryOptionOrRefusesItByName() throws Exception {
        everyOptionIsAcceptedOrRefusedByName("dump");
    }

    @Test
    void preDumpAcceptsEveryOptionOrRefusesItByName() throws Exception {
        everyOptionIsAcceptedOrRefusedByName("pre-dump");
    }

    @Test
    void restoreAcceptsEveryOptionOrRefusesItByName() throws Exception {
        everyOptionIsAcceptedOrRefusedByName("restore");
    }

    @Test
    void fileOptionsReachTheEngine() throws Exception {
        DumpCommand d = (DumpCommand) Main.parse("dump", "-t", "5", "-D", dir.toString(), "-l", "--link-remap",
                "--ghost-limit", "512K", "--ghost-fiemap", "--external", "unix[99]", "--evasive-devices");
        FileOptions f = d.options().files();
        assertTrue(f.fileLocks() && f.linkRemap() && f.ghostFiemap() && f.evasiveDevices());
        assertEquals(512 * 1024, f.ghostLimit());
        assertEquals(List.of("unix[99]"), f.external());
        RestoreCommand r = (RestoreCommand) Main.parse("restore", "-D", dir.toString(), "--inherit-fd",
                "fd[7]:pipe:[123]", "--inherit-fd", "fd[8]:/tmp/log", "--file-locks", "--file-validation", "filesize");
        RestoreOptions o = r.options();
        assertEquals(List.of(new FileOptions.InheritFd(7, "pipe:[123]"), new FileOptions.InheritFd(8, "/tmp/log")),
                o.files().inheritFds());
        assertTrue(o.files().fileLocks());
        assertEquals("filesize", o.files().fileValidation());
        assertEquals(FileOptions.DEFAULT_GHOST_LIMIT,
                ((DumpCommand) Main.parse("dump", "-t", "5", "-D", dir.toString())).options().files().ghostLimit());
    }

    @Test
    void dumpOptionsCarryWhatTheEngineActsOn() throws Exception {
        DumpOptions o = ((DumpCommand) Main.parse("dump", "-t", "5", "-D", dir.toString(), "-s", "--tcp-close",
                "--skip-in-flight", "--network-lock=skip", "--action-script", "/bin/true")).options();
        assertTrue(o.leaveStopped() && o.tcpClose() && o.skipInFlight());
        assertEquals("skip", o.networkLock());
        assertEquals(List.of("/bin/true"), o.actionScripts());
        assertFalse(((DumpCommand) Main.parse("dump", "-t", "5", "-D", dir.toString(), "-s", "-R")).options()
                .leaveStopped(), "-R wins over -s, as CRIU's last final state");
    }

    @Test
    void badValuesAreOneLineUsageErrors() {
        for (String[] bad : new String[][]{{"--manage-cgroups=sometimes"}, {"--cpu-cap=gpu"},
                {"--network-lock", "pf"}, {"--file-validation", "md5"}, {"--empty-ns", "pid"},
                {"--inherit-fd", "3:pipe"}, {"--ghost-limit", "lots"}}) {
            List<String> args = new ArrayList<>(List.of("dump", "-t", "5", "-D", dir.toString()));
            args.addAll(List.of(bad));
            CliRun run = CliRun.of(args.toArray(String[]::new));
            assertTrue(run.isOneLineFailure(), List.of(bad) + ": " + run);
            assertTrue(run.err().contains(bad[0].replaceAll("=.*", "")), run.err());
        }
    }

    @Test
    void aConfigFileGivesOptionsTheCommandLineOverrides() throws Exception {
        Path conf = dir.resolve("cryo.conf");
        Files.writeString(conf, "# CRIU's format\ntcp-established\nghost-limit 4K\nnetwork-lock \"skip\"\ntimeout 3\n");
        DumpCommand d = (DumpCommand) Main.parse(ConfigFiles.expand(new String[]{"dump", "--config", conf.toString(),
                "-t", "5", "-D", dir.toString(), "--timeout", "9"}));
        DumpOptions o = d.options();
        assertTrue(o.tcpEstablished());
        assertEquals(4096, o.files().ghostLimit());
        assertEquals("skip", o.networkLock());
        assertEquals(java.time.Duration.ofSeconds(9), o.timeout());
        CliRun missing = CliRun.of("dump", "--config", dir.resolve("none.conf").toString(), "-t", "5");
        assertTrue(missing.isOneLineFailure(), missing.toString());
        assertTrue(missing.err().contains("none.conf"), missing.err());
    }
}
