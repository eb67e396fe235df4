package dev.cryo.engine.ptrace;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Tracer threads that share a tree's tasks, so that the tasks are read concurrently: a task's ptrace requests
 * must come from the thread that attached it, so each task is given one tracer, which freezes it, reads it and
 * lets it go. Tasks go to the tracers in turn, in the order they are assigned (the tree's order). Waiting for a
 * traced task works from any thread of the process; only the requests are bound to the tracer.
 */
public final class TracerPool implements AutoCloseable {
    private final List<Tracer> tracers = new ArrayList<>();
    private final Map<Integer, Tracer> byPid = new ConcurrentHashMap<>();
    private int next;

    /**
     * @param size    tracer threads
     * @param prepare run first on each (its thread-local buffers, made before any task is frozen)
     */
    public TracerPool(int size, Runnable prepare) {
        for (int i = 0; i < size; i++) {
            Tracer t = new Tracer("cryo-tracer-" + (i + 1));
            t.submit(() -> {
                prepare.run();
                return null;
            });
            tracers.add(t);
        }
    }

    public int size() {
        return tracers.size();
    }

    /** The tracer of {@code pid}: the one it was given, else the next in turn (it is then {@code pid}'s). */
    public synchronized Tracer assign(int pid) {
        return byPid.computeIfAbsent(pid, p -> tracers.get(next++ % tracers.size()));
    }

    /** The tracer {@code pid} was given, or null. */
    public Tracer of(int pid) {
        return byPid.get(pid);
    }

    @Override
    public void close() {
        tracers.forEach(Tracer::close);
    }
}
