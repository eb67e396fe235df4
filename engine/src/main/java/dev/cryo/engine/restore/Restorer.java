package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;

/** Entry point of {@code cryo restore}. */
public final class Restorer {
    private Restorer() {
    }

    /**
     * Restores the tree in {@code options.imagesDir()}.
     *
     * @return the exit status for the CLI: 0 when detached; otherwise the restored root's exit status
     */
    public static int restore(RestoreOptions options, Log log) throws CryoException {
        throw new CryoException("restore is not implemented yet");
    }
}
