package dev.cryo.conformance.cases;

import java.util.List;

/**
 * A C fixture from {@code fixtures-c/build}: its binary, its arguments, and what its stdout holds.
 * {@code stepMillis} is how often it makes progress (how long to wait for a new counted line).
 */
public record Fixture(String binary, List<String> args, Output output, long stepMillis) {

    /** What the fixture writes to stdout. */
    public enum Output {
        /** nothing the harness reads */
        NONE,
        /** one number per line, 0, 1, 2, ...; each line reaches the file at once */
        COUNT_LINE_BUFFERED,
        /** one number per line, fully buffered: the file is complete only after the verdict */
        COUNT_FULLY_BUFFERED
    }

    public Fixture {
        args = List.copyOf(args);
    }

    public boolean counts() {
        return output != Output.NONE;
    }

    /** Takes page-write commands (only {@code memory} does). */
    public boolean takesPageWrites() {
        return binary.equals("memory");
    }

    public static Fixture counter(String binary, String buffer, long stepMillis) {
        Output output = buffer.equals("line") ? Output.COUNT_LINE_BUFFERED : Output.COUNT_FULLY_BUFFERED;
        return new Fixture(binary, List.of("--buffer=" + buffer, "--step-ms=" + stepMillis), output, stepMillis);
    }

    public static Fixture quiet(String binary, String... args) {
        return new Fixture(binary, List.of(args), Output.NONE, 10);
    }

    @Override
    public String toString() {
        return args.isEmpty() ? binary : binary + " " + String.join(" ", args);
    }
}
