package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.Properties;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The {@code cryo} command. Arguments follow CRIU's command line: the command may come after options,
 * {@code -v} keeps CRIU's attached-argument rules, and every option has CRIU's long form. The commands are
 * picocli commands; only the chosen one is constructed, and the plain lines of dump, pre-dump, restore and check
 * are read by {@link QuickParse} without loading picocli at all, which keeps start-up short.
 *
 * <p>Exit status: 0 on success; 1 on any error, printed as one line {@code Error (cryo CMD): ...} and never
 * as a stack trace (that goes to the -o log file at -v4); restore without -d exits with the restored
 * root's own status.
 */
public final class Main {
    static final String USAGE = """
            Usage:
              cryo dump|pre-dump -t PID [-D DIR] [-o LOG] [-v4] [<options>]
              cryo restore [-D DIR] [-d] [<options>]
              cryo check [--feature NAME]
              cryo swrk FD | cryo service [--address PATH]
              cryo service --resident [--dir DIR] [--stop]
              cryo show FILE|DIR
              cryo decode [-i FILE] [-o FILE] [--pretty]
              cryo encode [-i FILE] [-o FILE]

            Commands:
              dump       checkpoint a process tree identified by pid
              pre-dump   copy the memory of a tree, leaving it running, ahead of a dump
              restore    restore a process tree from its images
              check      check whether this kernel has what dump and restore need
              swrk       serve CRIU's RPC on an inherited socket (how runc, Podman and pycriu call CRIU)
              service    serve CRIU's RPC on a listening unix socket; with --resident, stay up and
                         run the commands bin/cryo hands over, without a JVM start each
              show       print images as crit-style JSON
              decode     convert an image to crit-style JSON, like crit decode
              encode     convert crit-style JSON back to an image, like crit encode

            Try 'cryo COMMAND --help' for the options of a command; -V|--version shows the version.
            """;

    private Main() {
    }

    public static void main(String[] args) {
        int status = run(args, System.out, System.err, System.in);
        System.out.flush();
        System.err.flush();
        if (args.length > 0 && args[0].equals("__train") || Boolean.getBoolean("cryo.exit.hooks")) {
            // the JVM writes the class-data archive on this path (and a profiler such as JFR its recording)
            System.exit(status);
        }
        // Cryo registers no shutdown hook and has flushed its output: halting skips the JDK's exit logging
        // (System.Logger set up cold for one debug line) and hook machinery, a few ms of every CLI run.
        Runtime.getRuntime().halt(status);
    }

    /** Runs one command line; returns the exit status. */
    static int run(String[] args, PrintStream out, PrintStream err, InputStream in) {
        return run(args, out, err, in, Main::command);
    }

    /** As {@link #run(String[], PrintStream, PrintStream, InputStream)}, with the commands given (for tests). */
    static int run(String[] args, PrintStream out, PrintStream err, InputStream in,
                   Function<String, Supplier<CryoCommand>> commands) {
        try {
            args = ConfigFiles.expand(args);
        } catch (UsageError e) {
            err.println("Error: " + e.getMessage());
            return 1;
        }
        CommandLineScan scan = CommandLineScan.of(args);
        String name = scan.command();
        if (name == null) {
            return topLevel(scan, out, err);
        }
        Supplier<CryoCommand> factory = commands.apply(name);
        if (factory == null) {
            err.println("Error: unknown command: " + name + " (try 'cryo --help')");
            return 1;
        }
        Session session = new Session(out, err, in, scan.verbosity());
        try {
            CryoCommand command = read(factory, name, scan.arguments(), out);
            return command == null ? 0 : command.run(session);
        } catch (UsageError e) {
            return fail(session, name, e.getMessage());
        } catch (CryoException e) {
            return fail(session, name, e.getMessage());
        } catch (IOException e) {
            return fail(session, name, ioMessage(e));
        } catch (Throwable t) {
            logStackTrace(session, t);
            return fail(session, name, "unexpected " + t.getClass().getSimpleName()
                    + (t.getMessage() == null ? "" : ": " + oneLine(t.getMessage()))
                    + (session.logIsFile() && session.verbosity >= Log.DEBUG ? " (stack trace in the log)" : ""));
        } finally {
            if (session.log() != null) {
                session.log().close();
            }
        }
    }

    /**
     * Parses a command line without running it: the command object with its fields set.
     * For tests and tools that want the parsed options.
     */
    static CryoCommand parse(String... args) throws UsageError {
        CommandLineScan scan = CommandLineScan.of(args);
        Supplier<CryoCommand> factory = scan.command() == null ? null : command(scan.command());
        if (factory == null) {
            throw new UsageError("unknown command: " + scan.command());
        }
        return read(factory, scan.command(), scan.arguments(), new PrintStream(OutputStream.nullOutputStream()));
    }

    /**
     * The command with its options read: by {@link QuickParse} when the command has a table and the line is
     * plain, else by picocli. Null when the line asked for help or the version, already printed.
     */
    static CryoCommand read(Supplier<CryoCommand> factory, String name, List<String> args, PrintStream out)
            throws UsageError {
        CryoCommand command = factory.get();
        if (command instanceof QuickParse.Target quick && QuickParse.parse(args, quick)) {
            return command;
        }
        command = factory.get(); // the quick reader may have set fields before it declined
        return PicocliParse.read(command, name, args, out) ? command : null;
    }

    /** The command a name stands for, constructed only when chosen. */
    static Supplier<CryoCommand> command(String name) {
        return switch (name) {
            case "dump" -> () -> new DumpCommand(false);
            case "pre-dump" -> () -> new DumpCommand(true);
            case "restore" -> RestoreCommand::new;
            case "check" -> CheckCommand::new;
            case "show" -> ShowCommand::new;
            case "decode" -> DecodeCommand::new;
            case "encode" -> EncodeCommand::new;
            case "swrk" -> SwrkCommand::new;
            case "service" -> ServiceCommand::new;
            case "__train" -> Training::new;
            default -> null;
        };
    }

    private static int topLevel(CommandLineScan scan, PrintStream out, PrintStream err) {
        if (scan.arguments().contains("-V") || scan.arguments().contains("--version")) {
            out.println("Version: " + version());
            return 0;
        }
        if (scan.arguments().contains("-h") || scan.arguments().contains("--help")) {
            out.print(USAGE);
            return 0;
        }
        err.println("Error: a command is required (try 'cryo --help')");
        return 1;
    }

    private static int fail(Session session, String name, String message) {
        session.err.println("Error (cryo " + name + "): " + message);
        if (session.logIsFile()) {
            session.log().error("%s", message);
        }
        return 1;
    }

    private static void logStackTrace(Session session, Throwable t) {
        if (session.logIsFile() && session.log().enabled(Log.DEBUG)) {
            StringWriter trace = new StringWriter();
            t.printStackTrace(new PrintWriter(trace));
            session.log().debug("%s", trace.toString().stripTrailing());
        }
    }

    /** An I/O failure in one line: the file and what went wrong with it. */
    static String ioMessage(IOException e) {
        if (e instanceof NoSuchFileException f) {
            return f.getFile() + ": " + (f.getReason() != null ? f.getReason() : "no such file or directory");
        }
        if (e instanceof AccessDeniedException f) {
            return f.getFile() + ": permission denied";
        }
        if (e instanceof FileSystemException f) {
            return f.getFile() + ": " + (f.getReason() != null ? f.getReason() : "cannot access");
        }
        return oneLine(e.getMessage());
    }

    static String oneLine(String message) {
        if (message == null) {
            return "";
        }
        return message.strip().lines().findFirst().orElse("");
    }


    static String version() {
        try (InputStream in = Main.class.getResourceAsStream("/META-INF/maven/dev.cryo/cryo-engine/pom.properties")) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                return p.getProperty("version", "unknown");
            }
        } catch (java.io.IOException e) {
            // fall through
        }
        return "unknown";
    }
}
