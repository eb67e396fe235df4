package dev.cryo.engine.tree;

import java.util.List;

/**
 * One process of a dumped tree, as pstree.img and its core image say: ids, threads and state.
 *
 * @param exitCode   for a zombie, the wait status its parent would read (field 52 of /proc/PID/stat)
 * @param stopSignal for a stopped task, the signal that stopped it
 * @param subreaper  whether it had PR_SET_CHILD_SUBREAPER
 */
public record TreeTask(int pid, int ppid, int pgid, int sid, List<Integer> threads, TaskState state, int exitCode,
                       int stopSignal, boolean subreaper) {
    public TreeTask {
        threads = List.copyOf(threads);
    }

    /** A live single-threaded task, for tests and plans. */
    public static TreeTask alive(int pid, int ppid, int pgid, int sid) {
        return new TreeTask(pid, ppid, pgid, sid, List.of(pid), TaskState.ALIVE, 0, 0, false);
    }

    public TreeTask zombie(int waitStatus) {
        return new TreeTask(pid, ppid, pgid, sid, List.of(pid), TaskState.DEAD, waitStatus, 0, subreaper);
    }

    public TreeTask stopped(int signal) {
        return new TreeTask(pid, ppid, pgid, sid, threads, TaskState.STOPPED, 0, signal, subreaper);
    }

    public TreeTask withSubreaper() {
        return new TreeTask(pid, ppid, pgid, sid, threads, state, exitCode, stopSignal, true);
    }

    public TreeTask withThreads(List<Integer> tids) {
        return new TreeTask(pid, ppid, pgid, sid, tids, state, exitCode, stopSignal, subreaper);
    }

    /** A task of pstree.img, with its state from its core (CRIU's task_state, exit_code, stop_signo). */
    public static TreeTask fromImage(dev.cryo.image.proto.pstree_entry e, dev.cryo.image.proto.task_core_entry tc) {
        TaskState state = TaskState.ofCode(tc.getTaskState());
        return new TreeTask(e.getPid(), e.getPpid(), e.getPgid(), e.getSid(), e.getThreadsList(), state,
                state == TaskState.DEAD ? tc.getExitCode() : 0, tc.getStopSigno(), tc.getChildSubreaper());
    }

    public boolean sessionLeader() {
        return sid == pid;
    }

    public boolean groupLeader() {
        return pgid == pid;
    }
}
