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

    private static final ThreadLocal<Tracer> CURRENT = new ThreadLocal<>();

    private volatile Thread owner;
    private volatile int osTid;
    /** Threads it seized that never stopped: only the end of its thread lets them go. */
    private final java.util.Set<Integer> stuck = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final ExecutorService thread;

    public Tracer() {
        this("cryo-tracer");
    }

    /** @param name the thread's name (a tree dump has several tracers, each of the tasks it froze) */
    public Tracer(String name) {
        thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(() -> {
                CURRENT.set(this);
                osTid = (int) dev.cryo.engine.sys.Syscall.raw(dev.cryo.engine.sys.Syscall.GETTID);
                r.run();
            }, name);
            t.setDaemon(true);
            owner = t;
            return t;
        });
    }

    /**
     * Notes that the calling thread leaves {@code tid} seized and not stopped (it never reached its interrupt stop,
     * so PTRACE_DETACH cannot reach it): when the calling thread is a tracer's, {@link #close} ends that thread and
     * waits until it is gone, and with it the attachment; the kernel drops the pending interrupt and the thread runs
     * on. Any other thread keeps it seized until it ends.
     */
    public static void leaveStuck(int tid) {
        Tracer t = CURRENT.get();
        if (t != null) {
            t.stuck.add(tid);
        }
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

    /** Ends the tracer thread; when it leaves stuck threads seized, waits until it is gone and they are let go. */
    @Override
    public void close() {
        thread.shutdown();
        if (stuck.isEmpty()) {
            return;
        }
        long deadline = System.nanoTime() + 10_000_000_000L;
        try {
            thread.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        // the executor is done before its thread has left the kernel: the attachment goes with the thread's exit
        java.nio.file.Path task = java.nio.file.Path.of("/proc/self/task/" + osTid);
        while (osTid > 0 && java.nio.file.Files.exists(task) && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(100_000);
        }
    }
}
