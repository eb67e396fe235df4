package dev.cryo.conformance.run;

/**
 * How a case ended. {@code XFAIL}: refused as the engine's declared known gap (not a failure);
 * {@code XPASS}: passed despite a declared gap, a failure until the gap is removed.
 */
public enum Outcome {
    PASS, FAIL, SKIP, XFAIL, XPASS;

    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Whether this outcome makes the suite fail. */
    public boolean failing() {
        return this == FAIL || this == XPASS;
    }
}
