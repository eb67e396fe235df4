package dev.cryo.engine.log;

import java.io.Closeable;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * CRIU-style log: each line is "(SS.uuuuuu) message", timed from the start of the run.
 * Levels follow CRIU's -v0..-v4: 0 messages, 1 errors, 2 warnings (default), 3 info, 4 debug.
 */
public final class Log implements Closeable {
    public static final int MSG = 0, ERROR = 1, WARN = 2, INFO = 3, DEBUG = 4;

    private final int level;
    private final PrintStream out;
    private final boolean ownsStream;
    private final long startNanos = System.nanoTime();

    private Log(int level, PrintStream out, boolean ownsStream) {
        this.level = level;
        this.out = out;
        this.ownsStream = ownsStream;
    }

    /** A log to a file (created or truncated), as CRIU's -o does. */
    public static Log toFile(Path file, int level) {
        try {
            var stream = Files.newOutputStream(file, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
            return new Log(level, new PrintStream(stream, true, StandardCharsets.UTF_8), true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open log file " + file, e);
        }
    }

    /** CRIU's {@code -o -}: the log goes to standard output. */
    public static Log toStdout(int level) {
        return new Log(level, System.out, false);
    }

    public static Log toStderr(int level) {
        return new Log(level, System.err, false);
    }

    public static Log discard() {
        return new Log(-1, System.err, false);
    }

    public int level() {
        return level;
    }

    public boolean enabled(int at) {
        return at <= level;
    }

    public void msg(String fmt, Object... args) { log(MSG, fmt, args); }
    public void error(String fmt, Object... args) { log(ERROR, "Error: " + fmt, args); }
    public void warn(String fmt, Object... args) { log(WARN, "Warn: " + fmt, args); }
    public void info(String fmt, Object... args) { log(INFO, fmt, args); }
    public void debug(String fmt, Object... args) { log(DEBUG, fmt, args); }

    private void log(int at, String fmt, Object... args) {
        if (at > level) {
            return;
        }
        long us = (System.nanoTime() - startNanos) / 1000;
        String text = args.length == 0 ? fmt : String.format(fmt, args);
        synchronized (out) {
            out.printf("(%02d.%06d) %s%n", us / 1_000_000, us % 1_000_000, text);
        }
    }

    @Override
    public void close() {
        out.flush();
        if (ownsStream) {
            out.close();
        }
    }
}
