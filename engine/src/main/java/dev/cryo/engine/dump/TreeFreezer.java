package dev.cryo.engine.dump;

import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStat;
import dev.cryo.engine.ptrace.Freezer;
import dev.cryo.engine.ptrace.Ptrace;
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
 * process. Zombies cannot be seized and need not be: they are read from /proc. On any failure every thread frozen
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

    public TreeFreezer(ProcFs proc, int options) {
        this(proc, options, proc::children);
    }

    public TreeFreezer(ProcFs proc, int options, Children children) {
        this.proc = proc;
        this.options = options;
        this.children = children;
    }

    /** Every frozen process with its frozen threads, parents before children. */
    public Map<Integer, List<Integer>> frozen() {
        return frozen;
    }

    /**
     * Freezes the tree under {@code root}.
     *
     * @throws SyscallException naming the process that could not be frozen; nothing stays frozen
     */
    public Map<Integer, List<Integer>> freeze(int root) throws SyscallException {
        try {
            List<Integer> queue = new ArrayList<>(List.of(root));
            for (int i = 0; i < queue.size(); i++) {
                int pid = queue.get(i);
                if (frozen.containsKey(pid) || zombie(pid, pid == root)) {
                    continue;
                }
                List<Integer> tids;
                try {
                    tids = Freezer.freezeAll(pid, options, threadsOf(proc, pid));
                } catch (SyscallException e) {
                    if (e.errno() == 3 && pid != root) {
                        continue; // exited (and was reaped) before it could be frozen: it left the tree
                    }
                    throw new SyscallException("process " + pid + " of the tree of " + root + ": " + e.getMessage(),
                            e.errno());
                }
                frozen.put(pid, tids);
                try {
                    queue.addAll(children.of(pid)); // frozen: its list of children is final
                } catch (IOException e) {
                    throw new SyscallException("listing the children of " + pid + " (" + e.getMessage() + ")", 3);
                }
            }
            return frozen;
        } catch (SyscallException | RuntimeException e) {
            release();
            throw e;
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

    /** Lets every frozen thread go as it was (detach: the kernel restarts interrupted syscalls itself). */
    public void release() {
        List<Integer> pids = new ArrayList<>(frozen.keySet());
        for (int i = pids.size() - 1; i >= 0; i--) {
            for (int tid : frozen.get(pids.get(i))) {
                try {
                    Ptrace.detach(tid, 0);
                } catch (SyscallException ignored) {
                    // gone: nothing to let go
                }
            }
        }
        frozen.clear();
    }
}
