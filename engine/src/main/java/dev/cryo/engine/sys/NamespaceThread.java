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
        return run(pid, kind, nsFlag, false, work);
    }

    /**
     * {@link #run}, where the work also writes /proc/sys (an ipc namespace's limits and next ids): where /proc/sys is
     * mounted read-only (Cryo inside a Docker container), the thread first takes a mount namespace of its own
     * ({@code unshare(CLONE_FS | CLONE_NEWNS)}, the thread's alone, gone with it) and remounts /proc/sys writable
     * there. Nothing else of Cryo's, and nothing of the host's, sees that mount.
     */
    public static <T> T runWritingSysctls(int pid, String kind, int nsFlag, Work<T> work) throws Exception {
        return run(pid, kind, nsFlag, true, work);
    }

    static final int UNSHARE = 272, MOUNT = 165, CLONE_FS = 0x200, CLONE_NEWNS = 0x20000, MS_REMOUNT = 32,
            MS_BIND = 4096, MS_REC = 16384, MS_PRIVATE = 1 << 18;

    /** In the calling thread: its own mount namespace with /proc/sys writable (see {@link #runWritingSysctls}). */
    private static void writableProcSys() throws SyscallException {
        Syscall.call("unshare(CLONE_FS | CLONE_NEWNS)", UNSHARE, CLONE_FS | CLONE_NEWNS);
        NativeBuffer root = cString("/"), sys = cString("/proc/sys");
        // private first: the remount below must not reach any mount that Cryo's namespace shares with another
        Syscall.call("mount(/, MS_REC | MS_PRIVATE)", MOUNT, 0, root.address(), 0, MS_REC | MS_PRIVATE, 0);
        Syscall.call("mount(/proc/sys, MS_REMOUNT | MS_BIND, rw)", MOUNT, 0, sys.address(), 0, MS_REMOUNT | MS_BIND,
                0);
    }

    private static NativeBuffer cString(String s) {
        byte[] p = (s + "\0").getBytes(StandardCharsets.UTF_8);
        NativeBuffer b = NativeBuffer.allocate(p.length);
        b.put(0, p);
        return b;
    }

    /**
     * Whether /proc/sys cannot be written: access(2) says so (EROFS) for a read-only mount; the mount table would not,
     * since Java finds a bind mount's entry by its device, which is /proc's.
     */
    private static boolean procSysReadOnly() {
        return !java.nio.file.Files.isWritable(java.nio.file.Path.of("/proc/sys/kernel/shm_next_id"));
    }

    private static <T> T run(int pid, String kind, int nsFlag, boolean sysctls, Work<T> work) throws Exception {
        Object[] out = new Object[1];
        Exception[] failed = new Exception[1];
        Thread t = new Thread(() -> {
            try {
                if (sysctls && procSysReadOnly()) {
                    writableProcSys();
                }
                String ns = "/proc/" + pid + "/ns/" + kind;
                NativeBuffer b = cString(ns);
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
