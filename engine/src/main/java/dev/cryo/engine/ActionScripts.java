package dev.cryo.engine;

/**
 * CRIU's action scripts: named points of a dump or restore where the engine stops and lets its caller act (lock
 * the network of an external namespace, run a container's hooks, adopt the restored pid). Over RPC each one is a
 * notification the caller must answer before the engine goes on; a failed answer fails the dump or restore.
 *
 * <p>The points, in CRIU's order. Dump: {@code pre-dump} (before the freeze), {@code network-lock} (frozen, before
 * anything is read), {@code post-dump} (images written, before the tree is killed or resumed),
 * {@code network-unlock} (after the tree runs on, with --leave-running, or after a failure). Restore:
 * {@code pre-restore}, {@code setup-namespaces} and {@code post-setup-namespaces} (the root task exists),
 * {@code post-restore} (built, not running yet), {@code network-unlock}, {@code pre-resume}, {@code post-resume}.
 */
public interface ActionScripts {
    /** No caller to ask: every point passes. */
    ActionScripts NONE = (action, pid) -> {
    };

    /**
     * Stops at {@code action} until the caller is done.
     *
     * @param pid the restored root's pid for {@code setup-namespaces} and {@code post-restore}; 0 otherwise
     * @throws CryoException when the caller answered with a failure: the dump or restore must not go on
     */
    void run(String action, int pid) throws CryoException;

    default void run(String action) throws CryoException {
        run(action, 0);
    }

    /** For the failure paths: the caller is told, but nothing it answers can change the outcome. */
    default void runQuietly(String action) {
        try {
            run(action, 0);
        } catch (CryoException | RuntimeException ignored) {
            // the dump or restore has failed already
        }
    }
}
