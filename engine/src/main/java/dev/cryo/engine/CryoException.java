package dev.cryo.engine;

/**
 * A failure the user should read: it names the pid, the resource and the step.
 * The CLI prints its message on one line and exits non-zero; it never prints a stack trace for it.
 */
public class CryoException extends Exception {
    public CryoException(String message) {
        super(message);
    }

    public CryoException(String message, Throwable cause) {
        super(message, cause);
    }
}
