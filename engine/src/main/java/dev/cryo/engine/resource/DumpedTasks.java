package dev.cryo.engine.resource;

import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * The processes of one dump ({@code dump -t PID}: PID and its descendants). Fd kinds ask it whether the other end
 * of a pipe or socket is inside the dumped tree, and what the tasks share is kept per dump through it (socket
 * queues, the network lock).
 */
public final class DumpedTasks {
    private volatile Set<Integer> pids;
    private volatile int root;
    private final java.util.Map<String, Object> memo = new java.util.concurrent.ConcurrentHashMap<>();

    public DumpedTasks(int root) {
        this.root = root;
        this.pids = Set.of(root);
    }

    /** Sets the tasks: as listed before the freeze, then as frozen (a task born meanwhile joins). */
    public void set(Collection<Integer> tasks) {
        Set<Integer> now = Set.copyOf(tasks);
        if (!now.equals(pids)) {
            memo.clear();
        }
        this.pids = now;
    }

    /**
     * What {@code compute} finds about {@code key} for these tasks, computed once per set of tasks: a look at every
     * task's fds made for one task's fd would cost the tree's size again for each task that holds it.
     */
    @SuppressWarnings("unchecked")
    public <T> T once(String key, java.util.function.Supplier<T> compute) {
        return (T) memo.computeIfAbsent(key, k -> compute.get());
    }

    /** Drops what {@link #once} found about {@code key}: the next asks again. */
    public void forget(String key) {
        memo.remove(key);
    }

    public boolean contains(int pid) {
        return pids.contains(pid);
    }

    public Set<Integer> pids() {
        return pids;
    }

    public int root() {
        return root;
    }

    /** The tasks in a stable order, the root first. */
    public List<Integer> ordered() {
        return pids.stream().sorted((a, b) -> a == root ? -1 : b == root ? 1 : Integer.compare(a, b)).toList();
    }
}
