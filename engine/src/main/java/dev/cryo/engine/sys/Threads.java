package dev.cryo.engine.sys;

/** Waiting for the engine's own threads. */
public final class Threads {
    private Threads() {
    }

    /**
     * Waits until {@code t} has ended, through interrupts (kept for the caller): what such a thread does (copy into
     * a buffer, trace a helper) must be over before the caller frees, reads or exits.
     */
    public static void joinUninterruptibly(Thread t) {
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
