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
        requireCryosNamespaces(pid);
        try {
            for (int tid : proc.tasks(pid)) {
                if (tid != pid && seccompOf(proc, tid) != 0) {
                    throw new CryoException("cannot dump pid " + pid + ": its thread " + tid
                            + " runs under seccomp, which Cryo cannot restore yet");
                }
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
            dev.cryo.engine.resource.DeletedFiles.checkMappings(pid, proc, fdCtx.options().files());
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read /proc/" + pid + ": " + e.getMessage());
        }
    }

    /** A thread's seccomp mode; 0 when it ended meanwhile (the freeze finds the threads again). */
    private static int seccompOf(ProcFs proc, int tid) {
        try {
            return proc.status(tid).seccompMode();
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * A process in a pid or mount namespace of its own (a container's) would be dumped with the pids and paths
     * Cryo sees, and come back as something else: refused, until those namespaces are dumped, rather than killed
     * for images that cannot give it back.
     */
    static void requireCryosNamespaces(int pid) throws CryoException {
        java.nio.file.Path proc = java.nio.file.Path.of("/proc", Integer.toString(pid));
        try {
            String mine = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/ns/pid")).toString();
            if (!java.nio.file.Files.readSymbolicLink(proc.resolve("ns/pid")).toString().equals(mine)) {
                String nspid = java.nio.file.Files.readAllLines(proc.resolve("status")).stream()
                        .filter(l -> l.startsWith("NSpid:")).findFirst().orElse("NSpid: ?").substring(6).strip();
                throw new CryoException("cannot dump pid " + pid + ": it lives in a pid namespace of its own (NSpid "
                        + nspid.replaceAll("\\s+", " ") + "), which Cryo cannot dump yet: a restore would not give "
                        + "it the same pids");
            }
            boolean ownMounts = !java.nio.file.Files.readSymbolicLink(proc.resolve("ns/mnt")).equals(
                    java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/ns/mnt")));
            if (ownMounts && !java.nio.file.Files.isSameFile(proc.resolve("root"), java.nio.file.Path.of("/"))) {
                throw new CryoException("cannot dump pid " + pid + ": it lives in a mount namespace of its own with "
                        + "another root (a container's), which Cryo cannot dump yet: its paths would not be found again");
            }
        } catch (java.io.IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read its namespaces in /proc/" + pid + ": "
                    + e.getMessage());
        }
    }
}
