package dev.cryo.engine.cli;

/** A mistake on the command line: an unknown option, a missing or malformed value. Printed on one line. */
final class UsageError extends Exception {
    UsageError(String message) {
        super(message, null, false, false);
    }
}
