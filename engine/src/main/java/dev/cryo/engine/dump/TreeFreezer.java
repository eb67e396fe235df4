package dev.cryo.engine.dump;

import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStat;
import dev.cryo.engine.ptrace.Freezer;
import dev.cryo.engine.ptrace.Ptrace;
import dev.cryo.engine.ptrace.Tracer;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Freezes a process and all its descendants, every thread of each. A frozen task cannot fork, but a task may fork
 * before it is frozen: so the children of every frozen task are listed again until a listing brings no new
 * process. With tracers ({@link #withTracers}) each task is attached by its own tracer thread, a level of the tree
 * at a time, all of a level at once. Zombies cannot be seized and need not be: they are read from /proc. On any failure every thread frozen
 * so far is let go as it was, and the error names the process. Runs on the tracer thread.
 */
public final class TreeFreezer {
    /** The processes of a tree, for tests that fail a listing. */
    @FunctionalInterface
    public interface Children {
        List<Integer> of(int pid) throws IOException;
    }

    private final ProcFs proc;
    private final Children children;
    private final int options;
    private final Map<Integer, List<Integer>> frozen = new LinkedHashMap<>(); // pid -> its threads, leader first
    /** The tracer that attaches each task (null: this thread attaches them all). */
    private java.util.function.IntFunction<Tracer> tracers = pid -> null;

    public TreeFreezer(ProcFs proc, int options) {
        this(proc, options, proc::children);
    }

    public TreeFreezer(ProcFs proc, int options, Children children) {
        this.proc = proc;
        this.options = options;
        this.children = children;
    }

    /**
     * Each task is frozen by the tracer this gives it (its requests must later come from that thread), the tasks
     * of one level of the tree all at once; null leaves a task to the calling thread.
     */
    public TreeFreezer withTracers(java.util.function.IntFunction<Tracer> tracers) {
        this.tracers = tracers;
        return this;
    }

    /** Every frozen process with its frozen threads, parents before children. */
    public Map<Integer, List<Integer>> frozen() {
        return frozen;
    }

    /** What freezing one task gave: its threads, none when it left the tree meanwhile, or the failure. */
    private record Outcome(List<Integer> tids, SyscallException error) {
    }

    /**
     * Freezes the tree under {@code root}, a level at a time: a frozen task's children are final, and are the next
     * level.
     *
     * @throws SyscallException naming the process that could not be frozen; nothing stays frozen
     */
    public Map<Integer, List<Integer>> freeze(int root) throws SyscallException {
        try {
            List<Integer> level = List.of(root);
            while (!level.isEmpty()) {
                Map<Integer, java.util.concurrent.Future<Outcome>> started = new LinkedHashMap<>();
                Map<Integer, Outcome> outcomes = new LinkedHashMap<>();
                for (int pid : level) {
                    if (frozen.containsKey(pid) || outcomes.containsKey(pid) || started.containsKey(pid)
                            || zombie(pid, pid == root)) {
                        continue;
                    }
                    Tracer t = tracers.apply(pid);
                    if (t == null) {
                        outcomes.put(pid, freezeOne(pid, root));
                    } else {
                        started.put(pid, t.submit(() -> freezeOne(pid, root)));
                    }
                }
                for (Map.Entry<Integer, java.util.concurrent.Future<Outcome>> e : started.entrySet()) {
                    try {
                        outcomes.put(e.getKey(), Tracer.await(e.getValue()));
                    } catch (dev.cryo.engine.CryoException | RuntimeException x) {
                        outcomes.put(e.getKey(), new Outcome(null, new SyscallException("process " + e.getKey()
                                + " of the tree of " + root + ": " + x.getMessage(), 3)));
                    }
                }
                SyscallException failed = null;
                List<Integer> next = new ArrayList<>();
                for (int pid : level) {
                    Outcome o = outcomes.get(pid);
                    if (o == null) {
                        continue;
                    }
                    if (o.error() != null) {
                        failed = failed == null ? o.error() : failed;
                    } else if (o.tids() != null) {
                        frozen.put(pid, o.tids());
                    }
                }
                if (failed != null) {
                    throw failed; // after every task of the level that froze is listed, for the release
                }
                for (int pid : level) {
                    if (outcomes.containsKey(pid) && frozen.containsKey(pid)) {
                        try {
                            next.addAll(children.of(pid)); // frozen: its list of children is final
                        } catch (IOException e) {
                            throw new SyscallException("listing the children of " + pid + " (" + e.getMessage() + ")", 3);
                        }
                    }
                }
                level = next;
            }
            return frozen;
        } catch (SyscallException | RuntimeException e) {
            release();
            throw e;
        }
    }

    /** Freezes every thread of one task, on the thread that is to be its tracer. */
    private Outcome freezeOne(int pid, int root) {
        try {
            return new Outcome(Freezer.freezeAll(pid, options, threadsOf(proc, pid)), null);
        } catch (SyscallException e) {
            if (e.errno() == 3 && pid != root) {
                return new Outcome(null, null); // exited (and was reaped) before it could be frozen: it left the tree
            }
            return new Outcome(null, new SyscallException("process " + pid + " of the tree of " + root + ": "
                    + e.getMessage(), e.errno()));
        }
    }

    /** The threads of {@code pid} as /proc lists them, with the count that tells a listing that missed one. */
    static Freezer.ThreadList threadsOf(ProcFs proc, int pid) {
        return new Freezer.ThreadList() {
            @Override
            public List<Integer> tids() throws IOException {
                return proc.tasks(pid);
            }

            @Override
            public int count() throws IOException {
                return proc.stat(pid).numThreads();
            }
        };
    }

    private boolean zombie(int pid, boolean root) throws SyscallException {
        try {
            TaskStat st = proc.stat(pid);
            return st.state() == 'Z' || st.state() == 'X';
        } catch (NoSuchFileException e) {
            if (root) {
                throw new SyscallException("process " + pid, 3);
            }
            return true; // gone: nothing to freeze
        } catch (IOException e) {
            throw new SyscallException("reading /proc/" + pid + "/stat (" + e.getMessage() + ")", 3);
        }
    }

    /** The threads of {@code pid} were let go by its own dump: {@link #release} leaves them alone. */
    public void released(int pid) {
        frozen.remove(pid);
    }

    /** Lets every frozen thread go as it was (detach: the kernel restarts interrupted syscalls itself). */
    public void release() {
        List<Integer> pids = new ArrayList<>(frozen.keySet());
        for (int i = pids.size() - 1; i >= 0; i--) {
            List<Integer> tids = frozen.get(pids.get(i));
            Tracer t = tracers.apply(pids.get(i));
            try {
                if (t == null) {
                    detachAll(tids);
                } else {
                    t.call(() -> {
                        detachAll(tids);
                        return null;
                    });
                }
            } catch (dev.cryo.engine.CryoException | RuntimeException ignored) {
                // its tracer is gone, and with it the attachment
            }
        }
        frozen.clear();
    }

    private static void detachAll(List<Integer> tids) {
        for (int tid : tids) {
            try {
                Ptrace.detach(tid, 0);
            } catch (SyscallException ignored) {
                // gone: nothing to let go
            }
        }
    }
}
