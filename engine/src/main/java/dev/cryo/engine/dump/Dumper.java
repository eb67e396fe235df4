package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;

/** Entry point of {@code cryo dump} and {@code cryo pre-dump}. */
public final class Dumper {
    private Dumper() {
    }

    public static void dump(DumpOptions options, Log log) throws CryoException {
        throw new CryoException("dump is not implemented yet");
    }
}
