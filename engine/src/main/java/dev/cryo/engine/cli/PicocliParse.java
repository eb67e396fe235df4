package dev.cryo.engine.cli;

import picocli.CommandLine;
import picocli.CommandLine.ParameterException;

import java.io.PrintStream;
import java.util.List;

/**
 * picocli reading a command line into a command's annotated fields, configured to behave as CRIU's getopt:
 * a repeated option keeps its last value, and arguments starting with '@' are not file references.
 * Help and version requests are answered here. Kept apart from {@link Main} so that a run QuickParse
 * serves never loads picocli.
 */
final class PicocliParse {
    private PicocliParse() {
    }

    /**
     * Reads {@code args} into {@code command}.
     *
     * @return false when the line asked for help or the version, which has been printed to {@code out}
     */
    static boolean read(CryoCommand command, String name, List<String> args, PrintStream out) throws UsageError {
        CommandLine parser = parser(command, name);
        try {
            parser.parseArgs(args.toArray(String[]::new));
        } catch (ParameterException e) {
            String message = Main.oneLine(e.getMessage());
            if (!message.isEmpty()) {
                message = Character.toLowerCase(message.charAt(0)) + message.substring(1);
            }
            throw new UsageError(message + " (try 'cryo " + name + " --help')");
        }
        if (parser.isUsageHelpRequested()) {
            parser.usage(out);
            return false;
        }
        if (parser.isVersionHelpRequested()) {
            out.println("Version: " + Main.version());
            return false;
        }
        return true;
    }

    static CommandLine parser(CryoCommand command, String name) {
        // picocli registers converters for java.sql and java.time types by reflection; cryo needs neither
        if (System.getProperty("picocli.converters.excludes") == null) {
            System.setProperty("picocli.converters.excludes", "java\\.sql\\..*|java\\.time\\..*");
        }
        CommandLine cl = new CommandLine(command);
        cl.setCommandName("cryo " + name);
        cl.setOverwrittenOptionsAllowed(true);
        cl.setExpandAtFiles(false);
        return cl;
    }
}
