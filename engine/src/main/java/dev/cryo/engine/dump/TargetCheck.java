package dev.cryo.engine.dump;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStat;
import dev.cryo.engine.proc.TaskStatus;
import dev.cryo.engine.resource.FdDumpContext;
import dev.cryo.engine.resource.FdKind;
import dev.cryo.engine.resource.FdKinds;

import java.io.IOException;
import java.util.List;

/**
 * Everything that makes a process impossible to dump, found from /proc before the process is touched.
 * Each refusal names the pid, the resource and why (or the option that would allow it).
 */
final class TargetCheck {
    private TargetCheck() {
    }

    static void requireDumpable(int pid, ProcFs proc, FdDumpContext fdCtx) throws CryoException {
        if (pid <= 0) {
            throw new CryoException("cannot dump pid " + pid + ": not a valid pid");
        }
        if (pid == ProcessHandle.current().pid()) {
            throw new CryoException("cannot dump pid " + pid + ": it is Cryo itself");
        }
        TaskStat stat;
        TaskStatus status;
        try {
            stat = proc.stat(pid);
            status = proc.status(pid);
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": no such process");
        }
        if (stat.kernelThread()) {
            throw new CryoException("cannot dump pid " + pid + ": it is the kernel thread " + stat.comm()
                    + ", which has no user space to checkpoint");
        }
        if (stat.state() == 'Z' || stat.state() == 'X') {
            throw new CryoException("cannot dump pid " + pid + ": it is a zombie (exited, not yet reaped)");
        }
        Tracers.requireUntraced(proc, pid, pid);
        if (pid == 1) {
            throw new CryoException("cannot dump pid 1: it is the init of this pid namespace");
        }
        try {
            List<Integer> tasks = proc.tasks(pid);
            if (tasks.size() > 1) {
                throw new CryoException("cannot dump pid " + pid + ": it has " + tasks.size()
                        + " threads; multithreaded processes are not supported yet");
            }
            List<Integer> children = proc.children(pid);
            if (!children.isEmpty()) {
                throw new CryoException("cannot dump pid " + pid + ": it has child process " + children.get(0)
                        + "; process trees are not supported yet");
            }
            if (status.seccompMode() != 0) {
                throw new CryoException("cannot dump pid " + pid + ": it runs under seccomp (mode "
                        + status.seccompMode() + "), which Cryo cannot restore yet");
            }
            for (FdInfo fd : proc.fds(pid)) {
                FdKind kind = FdKinds.of(fd).orElseThrow(() -> new CryoException("cannot dump pid " + pid + ": fd "
                        + fd.fd() + " is " + FdKinds.describe(fd)));
                kind.check(fdCtx, fd);
            }
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read /proc/" + pid + ": " + e.getMessage());
        }
    }
}
