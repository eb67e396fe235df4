package dev.cryo.engine.ptrace;

import dev.cryo.engine.CryoException;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The one platform thread that issues every ptrace request: the kernel only accepts requests from the
 * thread that attached. Dump and restore run their whole traced part through {@link #call}.
 */
public final class Tracer implements AutoCloseable {
    /** Work that runs on the tracer thread. */
    @FunctionalInterface
    public interface Task<T> {
        T run() throws CryoException;
    }

    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "cryo-tracer");
        t.setDaemon(true);
        return t;
    });

    public <T> T call(Task<T> task) throws CryoException {
        Future<T> f = thread.submit(task::run);
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
