package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStatus;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;

/**
 * A process that another tracer holds (gdb, strace, another dump) cannot be frozen by Cryo: ptrace allows one
 * tracer per task. The refusal names that tracer, from the task's TracerPid and its comm, before anything is
 * touched, and again if the tracer came between the check and the freeze (the kernel's EPERM).
 */
final class Tracers {
    private Tracers() {
    }

    /** "pid N (COMM)" of the task's tracer, or null when none holds it. */
    static String tracerOf(ProcFs proc, int tid) {
        try {
            TaskStatus st = proc.status(tid);
            String t = st.get("TracerPid");
            int tracer = t == null ? 0 : Integer.parseInt(t.trim());
            if (tracer == 0) {
                return null;
            }
            // TracerPid is the tracing thread; the user knows its process (a JVM's tracer is one of its threads)
            int process = tracer;
            try {
                String tgid = proc.status(tracer).get("Tgid");
                process = tgid == null ? tracer : Integer.parseInt(tgid.trim());
            } catch (IOException | RuntimeException e) {
                // named by the thread alone
            }
            String comm;
            try {
                comm = proc.comm(process);
            } catch (IOException e) {
                comm = "gone by now";
            }
            return "pid " + process + " (" + comm + (process != tracer ? ", its thread " + tracer : "") + ")";
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Refuses a task that is traced, naming its tracer. */
    static void requireUntraced(ProcFs proc, int pid, int tid) throws CryoException {
        String tracer = tracerOf(proc, tid);
        if (tracer != null) {
            throw refusal(pid, tid, tracer);
        }
    }

    interface Freeze<T> {
        T run() throws SyscallException, CryoException;
    }

    /**
     * Runs {@code freeze} (which lets go of whatever it froze when it fails): on EPERM, a tracer of one of
     * {@code pids} is named; one that has let go again by the time it is looked for (another dump, quicker) leaves
     * the tasks free, and the freeze is tried once more.
     */
    static <T> T freezing(ProcFs proc, int root, java.util.Collection<Integer> pids, Freeze<T> freeze)
            throws CryoException, SyscallException {
        for (int attempt = 0; ; attempt++) {
            try {
                return freeze.run();
            } catch (SyscallException e) {
                if (e.errno() != EPERM) {
                    throw e;
                }
                for (int p : pids) {
                    String tracer = tracerOf(proc, p);
                    if (tracer != null) {
                        throw refusal(root, p, tracer);
                    }
                }
                if (attempt > 0) {
                    throw e;
                }
            }
        }
    }

    static final int EPERM = 1;

    static CryoException refusal(int pid, int tid, String tracer) {
        return new CryoException("cannot dump pid " + pid + ": " + (tid == pid ? "it" : "its thread " + tid)
                + " is traced by " + tracer + " (a debugger, strace or another dump); only one tracer at a time: "
                + "detach it, or wait for the other dump to finish");
    }
}
