package dev.cryo.engine.proc;

import java.util.Map;

/**
 * One open fd: its number, where /proc/PID/fd/N points, and /proc/PID/fdinfo/N.
 *
 * @param target the readlink of /proc/PID/fd/N ("/path", "pipe:[123]", "socket:[45]", "anon_inode:[eventfd]")
 * @param flags  open flags as fdinfo reports them (O_CLOEXEC included when the fd has FD_CLOEXEC)
 */
public record FdInfo(int fd, String target, long pos, int flags, int mntId, long ino, Map<String, String> extra) {
    /** Key of {@link #extra()} set for a named pipe (FIFO), whose fdinfo looks like a file's. */
    public static final String FIFO = "cryo-fifo";

    public boolean isFifo() {
        return extra.containsKey(FIFO);
    }

    public boolean isPipe() {
        return target.startsWith("pipe:[");
    }

    public boolean isSocket() {
        return target.startsWith("socket:[");
    }

    public boolean isAnonInode() {
        return target.startsWith("anon_inode:");
    }

    public boolean isPath() {
        return target.startsWith("/");
    }
}
