package dev.cryo.engine.ptrace;

import dev.cryo.engine.sys.SyscallException;

/** Leaves a remote call half-way, as a Cryo killed at that moment would: for tests of what the tracee does then. */
public final class HalfWay {
    private HalfWay() {
    }

    /** Where in a call the tracer stops driving it. */
    public enum Moment {
        /** The call's registers and mask are loaded and the tracee let go towards its entry stop. */
        LOADED,
        /** In its syscall-entry stop. */
        AT_ENTRY,
        /** Let go from the entry stop: the syscall runs. */
        IN_CALL,
        /** In its syscall-exit stop, the result read, nothing put back. */
        AT_EXIT,
        /** At the exit stop with its own mask back, its registers still the call's. */
        MASK_BACK
    }

    /** Starts {@code nr()} in the tracee and stops driving it at {@code moment}. */
    public static void leave(RemoteSyscall call, Moment moment, long nr, long ownMask) throws SyscallException {
        call.start(nr, new long[0]);
        if (moment == Moment.LOADED) {
            return;
        }
        call.awaitSyscallStop("entry of syscall " + nr);
        if (moment == Moment.AT_ENTRY) {
            return;
        }
        Ptrace.syscall(call.pid(), 0);
        if (moment == Moment.IN_CALL) {
            return;
        }
        call.awaitSyscallStop("exit of syscall " + nr);
        Ptrace.registers(call.pid());
        if (moment == Moment.MASK_BACK) {
            Ptrace.setSigmask(call.pid(), ownMask);
        }
    }
}
