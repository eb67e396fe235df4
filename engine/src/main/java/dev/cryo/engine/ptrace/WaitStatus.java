package dev.cryo.engine.ptrace;

/** A decoded wait status of one task. */
public record WaitStatus(int pid, int raw) {
    public static final int SIGTRAP = 5, SIGSTOP = 19, SIGKILL = 9;
    public static final int EVENT_FORK = 1, EVENT_CLONE = 3, EVENT_EXIT = 6, EVENT_STOP = 128;

    public boolean stopped() {
        return (raw & 0xff) == 0x7f;
    }

    public boolean exited() {
        return (raw & 0x7f) == 0;
    }

    public boolean signaled() {
        return !stopped() && !exited();
    }

    public int exitCode() {
        return (raw >> 8) & 0xff;
    }

    public int termSignal() {
        return raw & 0x7f;
    }

    public int stopSignal() {
        return (raw >> 8) & 0xff;
    }

    public int event() {
        return (raw >> 16) & 0xff;
    }

    /** A syscall entry or exit stop (PTRACE_O_TRACESYSGOOD marks them with 0x80). */
    public boolean syscallStop() {
        return stopped() && stopSignal() == (SIGTRAP | 0x80);
    }

    /** The stop PTRACE_INTERRUPT or a seized group stop produces. */
    public boolean eventStop() {
        return stopped() && event() == EVENT_STOP;
    }

    /** A signal-delivery stop: the task is about to receive {@link #stopSignal()}. */
    public boolean signalStop() {
        return stopped() && event() == 0 && !syscallStop();
    }

    /** Shell-style status: exit code, or 128 + signal. */
    public int shellStatus() {
        return exited() ? exitCode() : 128 + termSignal();
    }

    @Override
    public String toString() {
        if (stopped()) {
            return "stopped(sig=" + stopSignal() + ", event=" + event() + ")";
        }
        return exited() ? "exited(" + exitCode() + ")" : "killed(sig=" + termSignal() + ")";
    }
}
