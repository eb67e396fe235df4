package dev.cryo.engine.ptrace;

import dev.cryo.engine.sys.SyscallException;

/** Seizes a task and brings it to a ptrace stop without sending it a signal it could see. */
public final class Freezer {
    private Freezer() {
    }

    /**
     * PTRACE_SEIZE + PTRACE_INTERRUPT, then waits for the interrupt stop. A signal caught on the way is
     * delivered as it would have been, and the task stops right after.
     */
    public static WaitStatus freeze(int pid, int options) throws SyscallException {
        Ptrace.seize(pid, options);
        Ptrace.interrupt(pid);
        while (true) {
            WaitStatus st = Ptrace.waitFor(pid);
            if (!st.stopped()) {
                throw new SyscallException("pid " + pid + " " + st + " while being frozen", 3);
            }
            if (st.eventStop()) {
                return st;
            }
            if (st.signalStop()) {
                Ptrace.cont(pid, st.stopSignal());
                Ptrace.interrupt(pid);
            } else {
                Ptrace.cont(pid, 0);
            }
        }
    }
}
