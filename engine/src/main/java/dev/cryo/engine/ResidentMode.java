package dev.cryo.engine;

/**
 * Whether this JVM is the resident service ({@code cryo service --resident}), which runs one command after another
 * for callers of bin/cryo instead of exiting after one. Set once, when the service starts; never per request.
 *
 * <p>Two things differ in a process that outlives its commands. A task made for a caller (the root of a detached
 * restore) must not stay the service's child: a fresh cryo exits and leaves it to the caller's subreaper or init,
 * where the service would keep it as a zombie once it ends. And the rehearsal a cold dump runs to pay the JVM's
 * one-time costs before the freeze is already paid: the service warmed itself up when it started.
 */
public final class ResidentMode {
    private static volatile boolean on;

    private ResidentMode() {
    }

    /** Marks this JVM as the resident service, for the rest of its life. */
    public static void enable() {
        on = true;
    }

    /** True in the resident service. */
    public static boolean on() {
        return on;
    }
}
