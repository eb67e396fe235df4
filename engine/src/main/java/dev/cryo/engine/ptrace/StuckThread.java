package dev.cryo.engine.ptrace;

import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A seized thread that did not reach its interrupt stop: it stayed in an uninterruptible wait (a vfork parent
 * waiting for its child, a request to a hung file system, a FUSE daemon's client) past the freeze's bound, or Cryo
 * was asked to stop (SIGTERM, SIGINT, SIGHUP) while waiting for it. Nothing was changed in it: the interrupt it has
 * pending is dropped when its tracer thread ends ({@link Tracer#close}), and it runs on as it was.
 */
public final class StuckThread extends SyscallException {
    static final int ETIME = 62, EINTR = 4;

    private final int tid;
    private final String signal;

    private StuckThread(int tid, String signal, String message) {
        super(signal == null ? ETIME : EINTR, message);
        this.tid = tid;
        this.signal = signal;
    }

    /** The thread waited for past {@code bound}. */
    static StuckThread timedOut(int tid, Duration bound) {
        return new StuckThread(tid, null, nameOf(tid) + " did not stop within " + seconds(bound) + " ("
                + waitOf(tid) + "); raise --timeout, or dump it when that wait is over");
    }

    /** Cryo got {@code signal} while it waited for the thread. */
    static StuckThread stopped(int tid, String signal) {
        return new StuckThread(tid, signal, "Cryo was stopped by " + signal + " while " + nameOf(tid)
                + " had not stopped yet (" + waitOf(tid) + ")");
    }

    /** The same failure, its message prefixed with {@code context} (the process it belongs to). */
    public StuckThread in(String context) {
        StuckThread e = new StuckThread(tid, signal, context + ": " + getMessage());
        e.initCause(this);
        return e;
    }

    /** The thread that did not stop. */
    public int tid() {
        return tid;
    }

    /** The stop signal that ended the wait, such as "SIGTERM", or null when the bound did. */
    public String signal() {
        return signal;
    }

    private static String seconds(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + " s" : ms + " ms";
    }

    /** "pid T" for a process's main thread, else "thread T of pid G". */
    private static String nameOf(int tid) {
        try {
            String tgid = PROC.status(tid).get("Tgid");
            int g = tgid == null ? tid : Integer.parseInt(tgid.trim());
            return g == tid ? "pid " + tid : "thread " + tid + " of pid " + g;
        } catch (IOException | RuntimeException e) {
            return "thread " + tid;
        }
    }

    private static final dev.cryo.engine.proc.ProcFs PROC = new dev.cryo.engine.proc.ProcFs();

    /** What the thread is doing, from /proc: "state D (disk sleep), in wait_for_vfork_done". */
    static String waitOf(int tid) {
        String state;
        try {
            char c = PROC.stat(tid).state();
            state = "state " + c + switch (c) {
                case 'D' -> " (disk sleep)";
                case 'S' -> " (sleeping)";
                case 'R' -> " (running)";
                case 'T', 't' -> " (stopped)";
                default -> "";
            };
        } catch (IOException | RuntimeException e) {
            return "gone by now";
        }
        try {
            String wchan = Files.readString(Path.of("/proc/" + tid + "/wchan")).strip();
            if (!wchan.isEmpty() && !wchan.equals("0")) {
                // the wait for a vfork child is inlined into kernel_clone: nothing else sleeps there
                boolean vfork = wchan.contains("vfork") || wchan.equals("kernel_clone");
                state += ", in " + wchan + (vfork ? ": a vfork parent, which waits until its child execs or exits"
                        : "");
            }
        } catch (IOException e) {
            // its wait unknown
        }
        return state;
    }
}
