package dev.cryo.engine.sys;

import jnr.constants.platform.Errno;

/** A failed syscall: the call's name and the errno, both readable. */
public class SyscallException extends Exception {
    private final int errno;

    public SyscallException(String call, int errno) {
        super(call + ": " + describe(errno));
        this.errno = errno;
    }

    /** A failure whose whole message is {@code message}, with {@code errno} for callers that tell failures apart. */
    protected SyscallException(int errno, String message) {
        super(message);
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }

    public static String describe(int errno) {
        Errno e = Errno.valueOf(errno);
        return e == null || e.name().startsWith("__") ? "errno " + errno : e.name() + " (" + e.description() + ")";
    }
}
