package dev.cryo.engine.cli;

import dev.cryo.engine.log.Log;

import java.io.InputStream;
import java.io.PrintStream;

/**
 * One run of the {@code cryo} command: its streams, the verbosity the {@code -v} options gave, and the log
 * once a command opened one.
 */
final class Session {
    final PrintStream out;
    final PrintStream err;
    final InputStream in;
    final int verbosity;
    private Log log;
    private boolean logIsFile;

    Session(PrintStream out, PrintStream err, InputStream in, int verbosity) {
        this.out = out;
        this.err = err;
        this.in = in;
        this.verbosity = verbosity;
    }

    void useLog(Log log, boolean toFile) {
        this.log = log;
        this.logIsFile = toFile;
    }

    /** The command's log, or null before it opened one. */
    Log log() {
        return log;
    }

    /** True when the log is a file of its own (-o), not stderr. */
    boolean logIsFile() {
        return logIsFile;
    }
}
