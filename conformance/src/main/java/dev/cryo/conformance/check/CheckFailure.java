package dev.cryo.conformance.check;

/** A check found its property broken; the message says what, where and when. */
public class CheckFailure extends Exception {
    private final String check;

    public CheckFailure(String check, String message) {
        super(message);
        this.check = check;
    }

    /** The name of the check that failed, or {@code engine}/{@code harness} for a step that failed. */
    public String check() {
        return check;
    }
}
