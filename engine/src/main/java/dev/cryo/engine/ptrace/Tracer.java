package dev.cryo.engine.ptrace;

import dev.cryo.engine.CryoException;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A platform thread that issues the ptrace requests for the tasks it attached: the kernel only accepts requests
 * from the thread that attached. Dump and restore run their traced part through {@link #call}; a tree dump
 * spreads its tasks over a {@link TracerPool}, each task attached and read by its own tracer.
 */
public final class Tracer implements AutoCloseable {
    /** Work that runs on the tracer thread. */
    @FunctionalInterface
    public interface Task<T> {
        T run() throws CryoException;
    }

    private volatile Thread owner;
    private final ExecutorService thread;

    public Tracer() {
        this("cryo-tracer");
    }

    /** @param name the thread's name (a tree dump has several tracers, each of the tasks it froze) */
    public Tracer(String name) {
        thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            owner = t;
            return t;
        });
    }

    /** Runs {@code task} on the tracer thread and waits for it; on the tracer thread itself, runs it there. */
    public <T> T call(Task<T> task) throws CryoException {
        if (Thread.currentThread() == owner) {
            return task.run();
        }
        return await(submit(task));
    }

    /** Starts {@code task} on the tracer thread; {@link #await} gives its result, or its failure as it was thrown. */
    public <T> Future<T> submit(Task<T> task) {
        return thread.submit(task::run);
    }

    /** The result of work {@link #submit}ted to a tracer, its exception rethrown as the work threw it. */
    public static <T> T await(Future<T> f) throws CryoException {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CryoException("interrupted while tracing", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof CryoException ce) {
                throw ce;
            }
            if (c instanceof RuntimeException re) {
                throw re;
            }
            if (c instanceof Error err) {
                throw err;
            }
            throw new CryoException(c.toString(), c);
        }
    }

    @Override
    public void close() {
        thread.shutdown();
    }
}
