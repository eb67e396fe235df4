package dev.cryo.engine.sys.probe;

import jnr.ffi.Pointer;

import static dev.cryo.engine.sys.probe.ProbeCalls.*;

/**
 * Whether {@code clone3} honours {@code set_tid} and lets this process choose pids, probed without ever
 * creating a process: the probe asks for our own pid, which is always taken.
 *
 * <p>The kernel reads {@code set_tid} while copying the arguments, checks the caller's
 * CAP_CHECKPOINT_RESTORE/CAP_SYS_ADMIN over the pid namespace, and only then tries to reserve the pid.
 * So the errno tells how far it got: {@code EEXIST} means every check passed and only the occupied pid
 * stopped it (supported and permitted); {@code EPERM} means supported but not permitted; {@code E2BIG}
 * means a clone3 that predates {@code set_tid}; {@code ENOSYS} means no clone3 at all.
 * Forking the JVM for real would be unsafe, and this probe cannot succeed on any kernel.
 */
public final class Clone3SetTid {
    /** {@code struct clone_args} up to {@code set_tid_size} (CLONE_ARGS_SIZE_VER1). */
    private static final int ARGS_SIZE = 80;
    private static final int EXIT_SIGNAL = 32, SET_TID = 64, SET_TID_SIZE = 72;

    private Clone3SetTid() {
    }

    public static Finding probe() {
        int self = (int) sys(GETPID);
        Pointer tid = memory(4);
        tid.putInt(0, self);
        Pointer args = memory(ARGS_SIZE);
        // flags 0: should anything ever be created, it is a copy, never a thread sharing the JVM's memory
        args.putLong(EXIT_SIGNAL, SIGCHLD);
        args.putLong(SET_TID, tid.address());
        args.putLong(SET_TID_SIZE, 1);
        long r = sys(CLONE3, args.address(), ARGS_SIZE);
        if (r == 0) {
            sys(EXIT_GROUP, 0); // in the impossible child: leave at once, touching nothing
        }
        if (r > 0) {
            sys(KILL, r, SIGKILL);
            sys(WAIT4, r, 0, WALL, 0);
            return Finding.no("clone3 ignored set_tid={" + self + "} and created pid " + r + " (killed)");
        }
        int errno = (int) -r;
        return switch (errno) {
            case EEXIST -> Finding.yes("clone3 with set_tid={own pid " + self
                    + "} stops at EEXIST: the kernel reads set_tid and lets us choose pids");
            case EPERM -> Finding.no("clone3 knows set_tid but refuses it: needs CAP_CHECKPOINT_RESTORE or "
                    + "CAP_SYS_ADMIN in the pid namespace's owner");
            case E2BIG -> Finding.no("clone3 predates set_tid (E2BIG for an 80-byte clone_args; kernel < 5.5)");
            case ENOSYS -> Finding.no("no clone3 syscall (ENOSYS; kernel < 5.3)");
            default -> Finding.no("clone3 with set_tid failed unexpectedly: " + errno(r));
        };
    }
}
