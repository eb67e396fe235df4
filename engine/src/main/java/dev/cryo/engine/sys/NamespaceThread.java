package dev.cryo.engine.sys;

import java.nio.charset.StandardCharsets;

/**
 * Work done inside one namespace of another process (its uts or ipc namespace) by a thread of Cryo's own that joins it
 * first and ends with the work. setns of a uts or ipc namespace changes the calling thread only, and what the kernel
 * answers there (uname, /proc/sys/kernel, /proc/sysvipc, shmget and the other SysV calls) is the calling thread's
 * namespace; so no other thread of Cryo's ever runs in it, and Cryo's JVM, which is multi-threaded, may do it.
 */
public final class NamespaceThread {
    /** What the thread does once it is inside. */
    public interface Work<T> {
        T run() throws Exception;
    }

    private NamespaceThread() {
    }

    /**
     * Runs {@code work} in a new thread that first joins {@code pid}'s namespace {@code kind} ({@code nsFlag} its
     * CLONE_NEW* flag), and waits for it. The work's failure, or setns's, is thrown here as it was.
     */
    public static <T> T run(int pid, String kind, int nsFlag, Work<T> work) throws Exception {
        Object[] out = new Object[1];
        Exception[] failed = new Exception[1];
        Thread t = new Thread(() -> {
            try {
                String ns = "/proc/" + pid + "/ns/" + kind;
                byte[] p = (ns + "\0").getBytes(StandardCharsets.UTF_8);
                NativeBuffer b = NativeBuffer.allocate(p.length);
                b.put(0, p);
                int fd = (int) Syscall.call("open(" + ns + ")", Syscall.OPENAT, -100, b.address(), 0x80000, 0);
                try {
                    Syscall.call("setns(" + ns + ")", Syscall.SETNS, fd, nsFlag);
                } finally {
                    Syscall.raw(Syscall.CLOSE, fd);
                }
                out[0] = work.run();
            } catch (Exception e) {
                failed[0] = e;
            } catch (Error e) {
                failed[0] = new IllegalStateException(e.toString(), e);
            }
        }, "cryo-" + kind + "ns-" + pid);
        t.start();
        Threads.joinUninterruptibly(t); // it must end before anyone goes on: it may hold the namespace's objects
        if (failed[0] != null) {
            throw failed[0];
        }
        @SuppressWarnings("unchecked")
        T result = (T) out[0];
        return result;
    }
}
