package dev.cryo.engine.tree;

/**
 * A task's state as CRIU's {@code task_core_entry.task_state} numbers it: what the restore makes of the task
 * once its pid exists.
 */
public enum TaskState {
    /** Runs on after the restore. */
    ALIVE(1),
    /** A zombie: exited, not yet reaped by its parent; comes back exited with its exit code. */
    DEAD(2),
    /** Stopped by a signal (state T); comes back stopped. */
    STOPPED(3),
    /** Exists only during the restore: stands in for a dead session or group leader. */
    HELPER(4);

    private final int code;

    TaskState(int code) {
        this.code = code;
    }

    /** The number in {@code task_core_entry.task_state}. */
    public int code() {
        return code;
    }

    /** The state a core image names; threads (5) and unknown numbers are not task states. */
    public static TaskState ofCode(int code) {
        for (TaskState s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        throw new IllegalArgumentException("task_state " + code + " is not a process state");
    }
}
