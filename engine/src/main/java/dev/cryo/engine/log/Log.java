package dev.cryo.engine.log;

import java.io.Closeable;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

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
            // private as the images are (dev.cryo.image.ImageAccess): it names the process's files and addresses
            var stream = java.nio.channels.Channels.newOutputStream(dev.cryo.image.ImageAccess.create(file));
            return new Log(level, new PrintStream(stream, true, StandardCharsets.UTF_8), true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open log file " + file, e);
        }
    }

    public static Log toStderr(int level) {
        return new Log(level, System.err, false);
    }

    /** A log to a stream the caller owns (the command's stdout or stderr): closing the log leaves it open. */
    public static Log toStream(PrintStream out, int level) {
        return new Log(level, out, false);
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
        long now = System.nanoTime();
        synchronized (this) {
            if (held != null) {
                held.add(new Held(now, fmt, args));
                return;
            }
        }
        print(now, fmt, args);
    }

    private void print(long nanos, String fmt, Object[] args) {
        long us = (nanos - startNanos) / 1000;
        String text = args.length == 0 ? fmt : String.format(fmt, args);
        // the prefix by hand: Formatter costs more than the rest of a line while the JVM is still interpreting
        StringBuilder line = new StringBuilder(text.length() + 16).append('(');
        long s = us / 1_000_000, frac = us % 1_000_000;
        if (s < 10) {
            line.append('0');
        }
        line.append(s).append('.');
        for (long d = 100_000; d > 1 && frac < d; d /= 10) {
            line.append('0');
        }
        line.append(frac).append(") ").append(text).append(System.lineSeparator());
        synchronized (out) {
            out.print(line);
        }
    }

    /** A line logged while held: its time now, its text later. */
    private record Held(long nanos, String fmt, Object[] args) {
    }

    private java.util.List<Held> held;

    /**
     * From here until {@link #release}, lines keep their time but are formatted and written only at the release:
     * the dump holds its log while the target is frozen, so formatting and file writes stay out of that window.
     * Arguments must not change meanwhile (the engine logs numbers, strings and immutable records).
     */
    public synchronized void hold() {
        if (held == null) {
            held = new java.util.ArrayList<>();
        }
    }

    /** Writes the held lines, in order, with the times they were logged at; then logs directly again. */
    public void release() {
        java.util.List<Held> lines;
        synchronized (this) {
            lines = held;
            held = null;
        }
        if (lines != null) {
            for (Held h : lines) {
                print(h.nanos(), h.fmt(), h.args());
            }
        }
    }

    @Override
    public void close() {
        release();
        out.flush();
        if (ownsStream) {
            out.close();
        }
    }
}
