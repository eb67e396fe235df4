package dev.cryo.engine.sys;

import sun.misc.Signal;
import sun.misc.SignalHandler;

import java.util.HashMap;
import java.util.Map;

/**
 * SIGTERM, SIGINT and SIGHUP while Cryo holds a process: instead of the JVM's exit (which would leave a frozen
 * target frozen, a scratch page mapped in it, a half-built restore running), the signal is noted and the run stops
 * at its next step, through the same path a failure takes: a dump puts its target back as it was and lets it run,
 * a restore kills what it built. Then Cryo exits with a message naming the signal.
 *
 * <p>{@code sun.misc.Signal} (module jdk.unsupported, there on JDK 17 and 25 without flags, class data sharing or
 * not): the handler runs on a thread of its own, so it only sets a flag; the tracer thread reads it.
 */
public final class StopSignals implements AutoCloseable {
    private static final String[] NAMES = {"TERM", "INT", "HUP"};
    private static volatile String received;

    private final Map<Signal, SignalHandler> previous = new HashMap<>();

    private StopSignals() {
    }

    /** Catches the stop signals until {@link #close()}, which puts the previous handlers back. */
    public static StopSignals catchThem() {
        StopSignals s = new StopSignals();
        received = null;
        for (String name : NAMES) {
            try {
                Signal sig = new Signal(name);
                s.previous.put(sig, Signal.handle(sig, signal -> received = "SIG" + signal.getName()));
            } catch (IllegalArgumentException e) {
                // the JVM keeps this one for itself (-Xrs and the like): it stops Cryo the usual way
            }
        }
        return s;
    }

    /** The stop signal received since {@link #catchThem()}, such as "SIGTERM", or null. */
    public static String received() {
        return received;
    }

    /**
     * For tests: raises {@code SIG+name} at Cryo itself, and returns once the handler has noted it (it runs on
     * another thread), so that the next step sees it.
     */
    public static void raise(String name) {
        Syscall.raw(Syscall.KILL, ProcessHandle.current().pid(), new Signal(name).getNumber());
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (received == null && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
    }

    /**
     * A point where a run may stop: raises the signal tests ask for at step {@code step}
     * ({@code -Dcryo.fault.signal.step=STEP}, {@code -Dcryo.fault.signal=TERM|INT|HUP}), then says whether a stop
     * signal came.
     *
     * @return the signal received, such as "SIGTERM", or null
     */
    public static String at(String step) {
        String hang = System.getProperty("cryo.fault.hang.step");
        if (hang != null && step.equals(hang.replace('_', ' '))) {
            hang(step);
        }
        if (step.equals(System.getProperty("cryo.fault.signal.step"))) {
            raise(System.getProperty("cryo.fault.signal", "TERM"));
        }
        return received;
    }

    /**
     * For tests of a Cryo killed by SIGKILL at a named step ({@code -Dcryo.fault.hang.step=STEP}, '_' for a space):
     * says so in {@code -Dcryo.fault.hang.file} and waits there for the kill.
     */
    private static void hang(String step) {
        String marker = System.getProperty("cryo.fault.hang.file");
        try {
            if (marker != null) {
                java.nio.file.Files.writeString(java.nio.file.Path.of(marker), step);
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        while (true) {
            java.util.concurrent.locks.LockSupport.park();
        }
    }

    @Override
    public void close() {
        previous.forEach(Signal::handle);
        previous.clear();
    }
}
