package dev.cryo.conformance.run;

/** How a case ended. */
public enum Outcome {
    PASS, FAIL, SKIP;

    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
