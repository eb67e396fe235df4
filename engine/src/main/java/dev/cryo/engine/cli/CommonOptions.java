package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import picocli.CommandLine.Option;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The options CRIU accepts with every command: images and work directories, log file, pidfile, verbosity. */
final class CommonOptions {
    @Option(names = {"-D", "--images-dir"}, paramLabel = "DIR", description = "directory of the image files (default: .)")
    String imagesDir = ".";

    @Option(names = {"-W", "--work-dir"}, paramLabel = "DIR",
            description = "directory for logs and pidfiles (default: the images directory)")
    String workDir;

    @Option(names = {"-o", "--log-file"}, paramLabel = "FILE", description = "log file, relative to the work directory")
    String logFile;

    @Option(names = "--pidfile", paramLabel = "FILE", description = "write the root task's pid to FILE (relative to the work directory)")
    String pidfile;

    @Option(names = "--shared-images", description = "make images readable by all, as CRIU does (files 0644, "
            + "directory 0755, less the umask); by default they are private (files 0600, directory 0700): they hold "
            + "the process's memory")
    boolean sharedImages;

    @Option(names = "--no-default-config", description = "do not read /etc/criu/default.conf and ~/.criu/default.conf")
    boolean noDefaultConfig;

    // Never reaches picocli (CommandLineScan takes -v out first); declared for the usage text.
    @Option(names = {"-v", "--verbosity"}, paramLabel = "NUM", arity = "0..1",
            description = "-v[v...] adds a level per v, -vNUM or --verbosity=NUM sets it: 0 none, 1 errors, "
                    + "2 warnings (default), 3 info, 4 debug")
    String verbosity;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help")
    boolean help;

    @Option(names = {"-V", "--version"}, versionHelp = true, description = "show the version")
    boolean version;

    /** The options above as {@link QuickParse} reads them (help, version and -v excepted). */
    static final List<QuickParse.Opt> QUICK = List.of(
            new QuickParse.Opt('D', QuickParse.Kind.VALUE, "images-dir"),
            new QuickParse.Opt('W', QuickParse.Kind.VALUE, "work-dir"),
            new QuickParse.Opt('o', QuickParse.Kind.VALUE, "log-file"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.VALUE, "pidfile"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.FLAG, "shared-images"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.FLAG, "no-default-config"));

    /** Sets the option {@code key} of {@link #QUICK}; false when the key is not one of them. */
    boolean set(String key, String value) {
        switch (key) {
            case "images-dir" -> imagesDir = value;
            case "work-dir" -> workDir = value;
            case "log-file" -> logFile = value;
            case "pidfile" -> pidfile = value;
            case "shared-images" -> sharedImages = Boolean.parseBoolean(value);
            case "no-default-config" -> noDefaultConfig = Boolean.parseBoolean(value);
            default -> {
                return false;
            }
        }
        return true;
    }

    /** The images directory as an absolute path; it must exist, as CRIU requires. */
    Path imagesDir() throws CryoException {
        return existingDirectory(imagesDir, "images directory");
    }

    /** Where logs and pidfiles go: -W, else the images directory. */
    Path workDir() throws CryoException {
        return workDir == null ? imagesDir() : existingDirectory(workDir, "work directory");
    }

    /** -o resolved against the work directory, or null for stderr. */
    Path logPath() throws CryoException {
        return logFile == null ? null : workDir().resolve(logFile).normalize();
    }

    Path pidfilePath() throws CryoException {
        return pidfile == null ? null : workDir().resolve(pidfile).normalize();
    }

    /** Opens the log -o names (or stderr) at the session's level and hands it to the session. */
    Log openLog(Session session) throws CryoException, UsageError {
        dev.cryo.image.ImageAccess.share(sharedImages); // before the log: it is as private as the images
        if ("-".equals(logFile)) {
            Log log = Log.toStream(session.out, session.verbosity);
            session.useLog(log, false);
            return log;
        }
        Path path = logPath();
        if (path == null) {
            Log log = Log.toStream(session.err, session.verbosity);
            session.useLog(log, false);
            return log;
        }
        try {
            Log log = Log.toFile(path, session.verbosity);
            session.useLog(log, true);
            return log;
        } catch (UncheckedIOException e) {
            throw new CryoException("cannot open log file " + path + ": " + CryoException.reason(e.getCause()));
        }
    }

    static Path existingDirectory(String given, String what) throws CryoException {
        Path p = WorkingDirectory.absolute(given);
        if (!Files.isDirectory(p)) {
            throw new CryoException("cannot use " + what + " " + p + ": "
                    + (Files.exists(p) ? "not a directory" : "no such directory"));
        }
        return p;
    }
}
