package dev.cryo.engine.net;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;

/** Runs work on a fresh thread that entered a network namespace; processes it starts are born there too. */
public final class NetNamespace {
    static final int CLONE_NEWNET = 0x40000000, O_RDONLY = 0, O_CLOEXEC = 02000000;

    private NetNamespace() {
    }

    public static Path of(int pid) {
        return Path.of("/proc/" + pid + "/ns/net");
    }

    /** Calls {@code work} inside the namespace {@code ns} (the caller's own when null). */
    public static <T> T call(Path ns, Callable<T> work) throws Exception {
        if (ns == null) {
            return work.call();
        }
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Exception> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                enter(ns);
                result.set(work.call());
            } catch (Exception e) {
                failure.set(e);
            }
        }, "cryo-netns");
        t.start();
        t.join();
        if (failure.get() != null) {
            throw failure.get();
        }
        return result.get();
    }

    /** setns() of the calling thread only. */
    public static void enter(Path ns) throws SyscallException {
        byte[] p = (ns + "\0").getBytes(StandardCharsets.UTF_8);
        NativeBuffer b = NativeBuffer.allocate(p.length);
        b.put(0, p);
        int fd = (int) Syscall.call("open(" + ns + ")", Syscall.OPENAT, -100, b.address(), O_RDONLY | O_CLOEXEC, 0);
        try {
            Syscall.call("setns(" + ns + ")", Syscall.SETNS, fd, CLONE_NEWNET);
        } finally {
            Syscall.raw(Syscall.CLOSE, fd);
        }
    }
}
