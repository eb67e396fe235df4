package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStat;
import dev.cryo.engine.tree.TaskState;
import dev.cryo.engine.tree.TreeTask;
import dev.cryo.image.proto.pstree_entry;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A process and all its descendants as /proc shows them: each task's ids, threads and state, parents before
 * children. Children are listed per thread ({@code /proc/PID/task/TID/children}): a child belongs to the thread
 * that forked it.
 */
public final class ProcessTree {
    private ProcessTree() {
    }

    /** Reads the tree under {@code root}; a task gone while being read is left out (it left the tree). */
    public static List<TreeTask> read(ProcFs proc, int root) throws CryoException {
        Map<Integer, TreeTask> out = new LinkedHashMap<>();
        List<Integer> queue = new ArrayList<>(List.of(root));
        for (int i = 0; i < queue.size(); i++) {
            int pid = queue.get(i);
            if (out.containsKey(pid)) {
                continue;
            }
            try {
                TreeTask t = task(proc, pid, pid == root);
                out.put(pid, t);
                if (t.state() != TaskState.DEAD) {
                    queue.addAll(proc.children(pid));
                }
            } catch (NoSuchFileException e) {
                if (pid == root) {
                    throw new CryoException("cannot dump pid " + root + ": no such process");
                }
            } catch (IOException e) {
                throw new CryoException("cannot dump pid " + root + ": cannot read /proc/" + pid
                        + " of its tree: " + e.getMessage(), e);
            }
        }
        return List.copyOf(out.values());
    }

    static TreeTask task(ProcFs proc, int pid, boolean root) throws IOException {
        TaskStat st = proc.stat(pid);
        TaskState state = switch (st.state()) {
            case 'Z', 'X' -> TaskState.DEAD;
            case 'T', 't' -> TaskState.STOPPED;
            default -> TaskState.ALIVE;
        };
        List<Integer> threads = state == TaskState.DEAD ? List.of(pid) : proc.tasks(pid);
        if (st.state() == 'D' && groupStopped(pid, threads)) {
            state = TaskState.STOPPED; // in a frozen cgroup (v1), which shows every task as 'D'
        }
        // the root's parent is outside the tree: pstree.img says 0, as CRIU writes it
        return new TreeTask(pid, root ? 0 : st.ppid(), st.pgid(), st.sid(), threads, state,
                state == TaskState.DEAD ? st.exitCode() : 0, 0, false);
    }

    /**
     * Whether a thread of the task sits in a group stop (SIGSTOP and the like). A task in a frozen cgroup v1 reads
     * as 'D' in /proc, whatever it did before; its wait channel still tells a stopped one.
     */
    static boolean groupStopped(int pid, List<Integer> tids) {
        for (int tid : tids) {
            try {
                if (dev.cryo.engine.sys.DirectFiles.readText("/proc/" + pid + "/task/" + tid + "/wchan").strip()
                        .equals("do_signal_stop")) {
                    return true;
                }
            } catch (IOException e) {
                // gone, or no wait channels here
            }
        }
        return false;
    }

    /** The pstree.img entries of a tree, in the order read. */
    public static List<pstree_entry> pstree(List<TreeTask> tree) {
        List<pstree_entry> out = new ArrayList<>(tree.size());
        for (TreeTask t : tree) {
            out.add(pstree_entry.newBuilder().setPid(t.pid()).setPpid(t.ppid()).setPgid(t.pgid()).setSid(t.sid())
                    .addAllThreads(t.threads()).build());
        }
        return out;
    }

}
