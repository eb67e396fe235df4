package dev.cryo.engine.cli;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

/** One in-process run of the cryo command line, with its output captured. */
record CliRun(int status, byte[] stdout, String err) {
    static CliRun of(String... args) {
        return of(new byte[0], Main::command, args);
    }

    static CliRun withInput(byte[] stdin, String... args) {
        return of(stdin, Main::command, args);
    }

    static CliRun of(byte[] stdin, Function<String, Supplier<CryoCommand>> commands, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        InputStream in = new ByteArrayInputStream(stdin);
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = Main.run(args, o, e, in, commands);
        }
        return new CliRun(status, out.toByteArray(), err.toString(StandardCharsets.UTF_8));
    }

    String out() {
        return new String(stdout, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return "exit " + status + ", stdout: " + out() + ", stderr: " + err;
    }

    List<String> errLines() {
        return err.lines().toList();
    }

    /** Exactly one line on stderr, no stack trace in it, exit status 1. */
    boolean isOneLineFailure() {
        return status == 1 && errLines().size() == 1 && !err.contains("\tat ") && !err.contains("Caused by")
                && !err.contains("Exception in thread");
    }
}
