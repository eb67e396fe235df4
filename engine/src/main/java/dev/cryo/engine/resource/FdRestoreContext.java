package dev.cryo.engine.resource;

import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

/** What fd kinds use while restoring: syscalls in the new task and a scratch area for their arguments. */
public record FdRestoreContext(int pid, RemoteSyscall syscall, RemoteScratch scratch, RestoreOptions options, Log log) {
    static final int AT_FDCWD = -100;

    /** openat() in the new task; returns the fd it got. */
    public int open(String path, int flags, int mode) throws SyscallException {
        long p = scratch.string(0, path);
        return (int) syscall.call("openat(" + path + ")", Syscall.OPENAT, AT_FDCWD, p, flags, mode);
    }
}
