package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.Tracer;

/** Entry point of {@code cryo dump} and {@code cryo pre-dump}. */
public final class Dumper {
    /** Dumps started over when the freeze catches a vfork child before its exec ({@link VforkInFlight}). */
    static final int VFORK_ATTEMPTS = 5;

    private Dumper() {
    }

    public static void dump(DumpOptions options, Log log) throws CryoException {
        dump(options, log, dev.cryo.engine.ActionScripts.NONE);
    }

    /** As {@link #dump(DumpOptions, Log)}, stopping at each of CRIU's action points for {@code scripts}. */
    public static void dump(DumpOptions options, Log log, dev.cryo.engine.ActionScripts scripts) throws CryoException {
        Warmup.preloadInBackground();
        try (var signals = dev.cryo.engine.sys.StopSignals.catchThem(); Tracer tracer = new Tracer()) {
            tracer.call(() -> {
                for (int attempt = 1; ; attempt++) {
                    try {
                        new DumpRun(options, log).withScripts(scripts).run();
                        return null;
                    } catch (VforkInFlight e) {
                        // a moment later the child has exec'd: the dump starts over, as a user's second try would
                        if (attempt == VFORK_ATTEMPTS) {
                            throw e;
                        }
                        log.info("%s; dumping it again (attempt %d of %d)", e.getMessage(), attempt + 1, VFORK_ATTEMPTS);
                    }
                }
            });
        }
    }
}
