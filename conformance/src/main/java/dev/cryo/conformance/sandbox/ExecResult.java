package dev.cryo.conformance.sandbox;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/** What a command inside a sandbox did. {@code exitCode} is -1 when it timed out. */
public record ExecResult(List<String> argv, int exitCode, String stdout, String stderr, boolean timedOut,
                         Duration took) {

    public boolean ok() {
        return !timedOut && exitCode == 0;
    }

    /** The last non-blank line of stderr, else of stdout: usually the error a tool printed. */
    public String lastLine() {
        for (String text : List.of(stderr, stdout)) {
            String[] lines = text.strip().split("\n");
            String last = Arrays.stream(lines).filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("");
            if (!last.isBlank()) {
                return last.strip();
            }
        }
        return "";
    }
}
