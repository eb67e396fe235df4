package dev.cryo.engine.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.quicktheories.core.Gen;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;

/** The quick reader is an optimisation of picocli's: the same options, the same result, or it declines. */
class QuickParseTest {
    private static final PrintStream SINK = new PrintStream(OutputStream.nullOutputStream());

    @TempDir
    Path dir;

    /** Option name to kind, as picocli's model of the annotated command sees them. */
    private static Map<String, QuickParse.Kind> picocliKinds(CryoCommand command) {
        Map<String, QuickParse.Kind> kinds = new TreeMap<>();
        for (OptionSpec o : PicocliParse.parser(command, "x").getCommandSpec().options()) {
            if (o.usageHelp() || o.versionHelp() || Arrays.asList(o.names()).contains("--verbosity")) {
                continue; // answered by picocli, or taken out before parsing
            }
            QuickParse.Kind kind = o.arity().max() == 0 ? (o.negatable() ? QuickParse.Kind.NEGATABLE : QuickParse.Kind.FLAG)
                    : o.arity().min() == 0 ? QuickParse.Kind.OPTIONAL_VALUE : QuickParse.Kind.VALUE;
            for (String n : o.names()) {
                kinds.put(n, kind);
            }
        }
        return kinds;
    }

    private static Map<String, QuickParse.Kind> quickKinds(List<QuickParse.Opt> table) {
        Map<String, QuickParse.Kind> kinds = new TreeMap<>();
        for (QuickParse.Opt o : table) {
            if (o.shortName() != 0) {
                kinds.put("-" + o.shortName(), o.kind());
            }
            for (String n : o.names()) {
                kinds.put("--" + n, o.kind());
            }
        }
        return kinds;
    }

    @Test
    void dumpTableIsTheAnnotatedOptions() {
        assertEquals(picocliKinds(new DumpCommand(false)), quickKinds(DumpCommand.QUICK));
    }

    @Test
    void restoreTableIsTheAnnotatedOptions() {
        assertEquals(picocliKinds(new RestoreCommand()), quickKinds(RestoreCommand.QUICK));
    }

    @Test
    void checkTableIsTheAnnotatedOptions() {
        assertEquals(picocliKinds(new CheckCommand()), quickKinds(CheckCommand.QUICK));
    }

    /** Every field of a command and its common options, as text, to compare two readings. */
    static String fields(Object command) throws IllegalAccessException {
        StringBuilder b = new StringBuilder();
        for (Object o : new Object[]{command, commonOf(command), criuOf(command)}) {
            if (o == null) {
                continue;
            }
            for (Field f : o.getClass().getDeclaredFields()) {
                if (!java.lang.reflect.Modifier.isStatic(f.getModifiers()) && f.getType() != CommonOptions.class
                        && f.getType() != CriuOptions.class) {
                    f.setAccessible(true);
                    b.append(f.getName()).append('=').append(f.get(o)).append(' ');
                }
            }
        }
        return b.toString();
    }

    private static Object criuOf(Object command) {
        if (command instanceof DumpCommand d) {
            return d.criu;
        }
        return command instanceof RestoreCommand r ? r.criu : null;
    }

    private static Object commonOf(Object command) {
        if (command instanceof DumpCommand d) {
            return d.common;
        }
        return command instanceof RestoreCommand r ? r.common : ((CheckCommand) command).common;
    }

    /** One plain, valid option of the table, in one of the spellings getopt and picocli both accept. */
    private static List<String> spell(QuickParse.Opt o, int variant, String value) {
        boolean useShort = o.shortName() != 0 && variant % 2 == 0;
        String longName = o.names()[variant % o.names().length];
        return switch (o.kind()) {
            case FLAG -> List.of(useShort ? "-" + o.shortName() : "--" + longName);
            case NEGATABLE -> variant % 3 == 2 ? List.of("--no-" + o.names()[0])
                    : List.of(useShort ? "-" + o.shortName() : "--" + longName);
            case VALUE -> switch (variant % 3) {
                case 0 -> useShort ? List.of("-" + o.shortName() + value) : List.of("--" + longName + "=" + value);
                default -> List.of(useShort ? "-" + o.shortName() : "--" + longName, value);
            };
            case OPTIONAL_VALUE -> variant % 2 == 0 ? List.of(useShort ? "-" + o.shortName() : "--" + longName)
                    : List.of(useShort ? "-" + o.shortName() + value : "--" + longName + "=" + value);
        };
    }

    private void bothReadersAgree(Supplier<? extends CryoCommand> factory, List<QuickParse.Opt> table) {
        String[] values = {"17", "4242", dir.toString(), "splice", "read", "dump.log", "../prev", "7", "abc", "0"};
        Gen<List<Integer>> picks = lists().of(integers().between(0, table.size() * 6 * values.length - 1))
                .ofSizeBetween(0, 12);
        qt().withExamples(300).forAll(picks).checkAssert(p -> {
            List<String> line = new ArrayList<>();
            for (int pick : p) {
                QuickParse.Opt o = table.get(pick % table.size());
                line.addAll(spell(o, pick / table.size() % 6, values[pick / table.size() / 6 % values.length]));
            }
            try {
                CryoCommand quick = factory.get(), full = factory.get();
                assertTrue(QuickParse.parse(line, (QuickParse.Target) quick), () -> "declined " + line);
                assertTrue(PicocliParse.read(full, "x", line, SINK), () -> "picocli: help for " + line);
                assertEquals(fields(full), fields(quick), () -> "line " + line);
            } catch (UsageError | IllegalAccessException e) {
                throw new AssertionError("line " + line + ": " + e.getMessage(), e);
            }
        });
    }

    @Test
    void dumpReadersAgreeOnEveryPlainLine() {
        bothReadersAgree(() -> new DumpCommand(false), DumpCommand.QUICK);
    }

    @Test
    void restoreReadersAgreeOnEveryPlainLine() {
        bothReadersAgree(RestoreCommand::new, RestoreCommand.QUICK);
    }

    @Test
    void checkReadersAgreeOnEveryPlainLine() {
        bothReadersAgree(CheckCommand::new, CheckCommand.QUICK);
    }

    private static boolean quick(String... args) {
        return QuickParse.parse(List.of(args), new DumpCommand(false));
    }

    @Test
    void declinesWhatPicocliMustAnswer() {
        assertFalse(quick("--help"));
        assertFalse(quick("-h"));
        assertFalse(quick("-V"));
        assertFalse(quick("-t", "1", "--bogus"));
        assertFalse(quick("-t", "1", "-Q"));
        assertFalse(quick("-t"));
        assertFalse(quick("--tree"));
        assertFalse(quick("-t", "-5"));
        assertFalse(quick("-t", "1", "extra"));
        assertFalse(quick("-t", "1", "--"));
        assertFalse(quick("--leave-running=true"));
        assertFalse(quick("--no-leave-running"));
        assertTrue(quick("-t", "1", "-D", "/x", "--no-tcp-established", "-Rjx"));
    }

    @Test
    void plainDumpLineIsReadWithoutLoadingPicocli() throws Exception {
        // a fresh JVM, as bin/cryo starts one: the hot path must not pay for picocli's model
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "-Xshare:auto", "-Xlog:class+load=info:stdout",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "dump", "-t", "1", "-D", dir.resolve("missing").toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(1, p.waitFor(), out);
        assertTrue(out.contains("dev.cryo.engine.cli.DumpCommand"), "ran the dump command");
        assertFalse(out.contains(" picocli."), "picocli was loaded for a plain line");

        p = new ProcessBuilder(java.toString(), "-Xlog:class+load=info:stdout", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(), "dump", "--help")
                .redirectErrorStream(true).start();
        out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.contains(" picocli.CommandLine "), "help comes from picocli");
    }
}
