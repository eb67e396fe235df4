package dev.cryo.engine.tree;

/**
 * One step of a tree's restore, in the order {@link TreePlan} gives them. Every step names the task that performs
 * it; the engine runs it there with a remote syscall (or, for the root's fork, from its own helper).
 */
public sealed interface PlanStep {
    /** The task that performs the step. */
    int pid();

    /** {@code creator} forks {@code pid} ({@code clone3} with {@code set_tid}); creator 0 is the engine itself. */
    record Fork(int creator, int pid, boolean helper) implements PlanStep {
        @Override
        public String toString() {
            return (helper ? "fork helper " : "fork ") + pid + (creator == 0 ? " (root, by the engine)" : " by " + creator);
        }
    }

    /** {@code setsid()}: the task's first act, before it leads a group or has children. */
    record SetSid(int pid) implements PlanStep {
        @Override
        public String toString() {
            return "setsid " + pid;
        }
    }

    /**
     * {@code setpgid(0, pgid)}: leads its group ({@code pgid == pid}) or joins one that exists by then.
     * {@code rootGroup}: the group is the root's, which lives outside the tree (a shell's job), so the engine
     * joins whatever group the restored root is in.
     */
    record SetPgid(int pid, int pgid, boolean rootGroup) implements PlanStep {
        @Override
        public String toString() {
            return "setpgid " + pid + (pgid == pid ? " (leads its group)" : " joins " + (rootGroup ? "the root's group "
                    + "(outside the tree, was " + pgid + ")" : "group " + pgid));
        }
    }

    /**
     * {@code pid}, about to leave group {@code pgid} that it made and that none of its members has joined yet (each
     * waits, in turn, for a group whose leader waits for it), forks a holder that keeps the group: a child with any
     * free pid (every task's is taken by then), which inherits the group and exits in {@link ReleaseGroup}.
     */
    record HoldGroup(int pid, int pgid) implements PlanStep {
        @Override
        public String toString() {
            return "fork holder of group " + pgid + " by " + pid;
        }
    }

    /** The holder of group {@code pgid} exits, reaped by its parent {@code pid}; the group's members keep it. */
    record ReleaseGroup(int pid, int pgid) implements PlanStep {
        @Override
        public String toString() {
            return "exit holder of group " + pgid + ", reaped by " + pid;
        }
    }

    /** {@code prctl(PR_SET_CHILD_SUBREAPER, on)}. */
    record Subreaper(int pid, boolean on) implements PlanStep {
        @Override
        public String toString() {
            return "subreaper " + pid + (on ? " on" : " off");
        }
    }

    /** The task becomes its image: memory, files, threads, signals, registers; it does not run yet. */
    record Build(int pid) implements PlanStep {
        @Override
        public String toString() {
            return "build " + pid;
        }
    }

    /** A helper exits and its parent {@code reaper} reaps it; the helper's children go to their subreaper. */
    record ExitHelper(int pid, int reaper) implements PlanStep {
        @Override
        public String toString() {
            return "exit helper " + pid + ", reaped by " + reaper;
        }
    }

    /** A zombie of the image exits with its wait status and stays unreaped. */
    record BecomeZombie(int pid, int waitStatus) implements PlanStep {
        @Override
        public String toString() {
            return "zombie " + pid + ((waitStatus & 0x7f) != 0 ? " (killed by signal " + (waitStatus & 0x7f) + ")"
                    : " (exit " + ((waitStatus >> 8) & 0xff) + ")");
        }
    }

    /** Every task is ready: this one runs on, or stays stopped by {@code stopSignal} (0: runs). */
    record Resume(int pid, int stopSignal) implements PlanStep {
        @Override
        public String toString() {
            return "resume " + pid + (stopSignal != 0 ? " stopped (signal " + stopSignal + ")" : "");
        }
    }
}
