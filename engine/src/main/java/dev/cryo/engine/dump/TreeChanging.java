package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;

/**
 * The freeze caught the tree in a moment that passes by itself: a vfork child between its vfork and its exec (sharing
 * its parent's memory), a task born or a thread started while the tree was being frozen. The tree was let go as it
 * was, and {@link Dumper} dumps it again, as a user's second try would.
 */
final class TreeChanging extends CryoException {
    TreeChanging(String message) {
        super(message);
    }
}
