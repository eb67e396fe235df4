package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;

/**
 * The freeze caught a vfork child between its vfork and its exec, sharing its parent's memory (a state of a few
 * microseconds to milliseconds): the tree was let go as it was, and {@link Dumper} dumps it again.
 */
final class VforkInFlight extends CryoException {
    VforkInFlight(String message) {
        super(message);
    }
}
