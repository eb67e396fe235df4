package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.Tracer;

/** Entry point of {@code cryo dump} and {@code cryo pre-dump}. */
public final class Dumper {
    /** Dumps started over when the freeze catches the tree in a passing moment ({@link TreeChanging}). */
    static final int ATTEMPTS = 5;

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
                    } catch (TreeChanging e) {
                        // a moment later it has passed (the child exec'd, the new task is listed): the dump starts over
                        if (attempt == ATTEMPTS) {
                            throw e;
                        }
                        log.info("%s; dumping it again (attempt %d of %d)", e.getMessage(), attempt + 1, ATTEMPTS);
                    }
                }
            });
        }
    }
}
