package dev.cryo.engine.resource;

import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.RemoteScratch;
import dev.cryo.engine.ptrace.RemoteSyscall;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import dev.cryo.engine.CryoException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What fd kinds use while restoring: syscalls in the new task, a scratch area for their arguments, the data
 * images beyond files.img, and a place to keep state between the fds of one resource (the two ends of a pipe).
 *
 * @param pipesData pipe_id to the bytes buffered in it at dump time
 */
public record FdRestoreContext(int pid, RemoteSyscall syscall, RemoteScratch scratch, RestoreOptions options, Log log,
                               Map<Integer, byte[]> pipesData, Map<Object, Object> state) {
    static final int AT_FDCWD = -100;

    public FdRestoreContext(int pid, RemoteSyscall syscall, RemoteScratch scratch, RestoreOptions options, Log log,
                            Map<Integer, byte[]> pipesData) {
        this(pid, syscall, scratch, options, log, pipesData, new HashMap<>());
    }

    /** Work that needs every fd of the task in place (epoll registrations name their targets by fd number). */
    public interface AfterFds {
        void run() throws CryoException, SyscallException;
    }

    private static final String AFTER_FDS = "after-fds";

    /** Runs {@code work} once all fds of this task are at their numbers, in the order given. */
    @SuppressWarnings("unchecked")
    public void afterFds(AfterFds work) {
        ((List<AfterFds>) state.computeIfAbsent(AFTER_FDS, k -> new ArrayList<AfterFds>())).add(work);
    }

    /** Called by the restore once every fd of the task has its number. */
    @SuppressWarnings("unchecked")
    public void runAfterFds() throws CryoException, SyscallException {
        List<AfterFds> work = (List<AfterFds>) state.remove(AFTER_FDS);
        if (work != null) {
            for (AfterFds w : work) {
                w.run();
            }
        }
    }

    /**
     * openat() in the new task; returns the fd it got. Never with O_ASYNC: open() would keep the flag without making
     * the file send signals, and no later F_SETFL could then; {@link FileOwner#restore} sets it.
     */
    public int open(String path, int flags, int mode) throws SyscallException {
        long p = scratch.string(0, path);
        return (int) syscall.call("openat(" + path + ")", Syscall.OPENAT, AT_FDCWD, p, flags & ~FileOwner.O_ASYNC,
                mode);
    }
}
