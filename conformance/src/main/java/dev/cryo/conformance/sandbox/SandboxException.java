package dev.cryo.conformance.sandbox;

/** A sandbox could not be started or could not run a command (not: the command failed). */
public class SandboxException extends Exception {
    public SandboxException(String message) {
        super(message);
    }

    public SandboxException(String message, Throwable cause) {
        super(message, cause);
    }
}
