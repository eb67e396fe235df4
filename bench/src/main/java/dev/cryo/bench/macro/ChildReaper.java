package dev.cryo.bench.macro;

import dev.cryo.engine.sys.LibC;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.locks.LockSupport;

/**
 * Restored processes end up as this JVM's children (a restore detaches from them and exits; the harness is the
 * child subreaper), but the JDK never heard of them: the harness waits for them itself, and polls /proc for the
 * pid to be free before restoring into it. Every wait is bounded.
 */
public final class ChildReaper {
    static final int WNOHANG = 1, WALL = 0x40000000;
    static final int PR_SET_CHILD_SUBREAPER = 36;
    static final int ECHILD = 10;
    static final long POLL_NANOS = 2_000_000;

    private ChildReaper() {
    }

    /** Orphans of the tools (restored trees) come to this process rather than to pid 1, which may not reap. */
    public static void becomeSubreaper() throws SyscallException {
        Syscall.call("prctl(PR_SET_CHILD_SUBREAPER)", Syscall.PRCTL, PR_SET_CHILD_SUBREAPER, 1);
    }

    /** True while {@code pid} exists and is not a zombie. */
    public static boolean alive(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state != 'Z' && state != 'X';
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Polls until no process has {@code pid}; false if it still exists after {@code bound}. */
    public static boolean awaitPidFree(int pid, Duration bound) {
        long deadline = System.nanoTime() + bound.toNanos();
        Path dir = Path.of("/proc", Integer.toString(pid));
        while (Files.exists(dir)) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            LockSupport.parkNanos(POLL_NANOS);
        }
        return true;
    }

    /**
     * Waits for {@code pid} to exit and reaps it if it is this process's child. Returns how it ended
     * ("exited 0", "killed by signal 9"), "gone" when it was not ours to reap, or null if it still runs after
     * {@code bound}.
     */
    public static String reap(int pid, Duration bound) {
        long deadline = System.nanoTime() + bound.toNanos();
        int[] status = new int[1];
        while (true) {
            int r = LibC.INSTANCE.waitpid(pid, status, WNOHANG | WALL);
            if (r == pid) {
                int s = status[0];
                return (s & 0x7f) == 0 ? "exited " + ((s >> 8) & 0xff) : "killed by signal " + (s & 0x7f);
            }
            if (r == -1 && LibC.errno() == ECHILD) {
                return awaitPidFree(pid, Duration.ofNanos(Math.max(0, deadline - System.nanoTime()))) ? "gone" : null;
            }
            if (System.nanoTime() > deadline) {
                return null;
            }
            LockSupport.parkNanos(POLL_NANOS);
        }
    }

    /** SIGKILL, then reap; for cleaning up whatever a failed run left behind. */
    public static void kill(int pid) {
        Syscall.raw(Syscall.KILL, pid, 9);
        reap(pid, Duration.ofSeconds(10));
    }

    public static void signal(int pid, int signal) throws SyscallException {
        Syscall.call("kill(" + pid + ", " + signal + ")", Syscall.KILL, pid, signal);
    }
}
