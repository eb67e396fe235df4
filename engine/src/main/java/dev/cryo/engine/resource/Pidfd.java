package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.ptrace.HelperProcess;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.fd_types;
import dev.cryo.image.proto.fdinfo_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.pidfd_entry;

import java.io.IOException;
import java.util.List;

/**
 * A pidfd ({@code pidfd_open}, {@code CLONE_PIDFD}): a handle on one process. Its fdinfo says which one ({@code Pid:}
 * as Cryo sees it, {@code NSpid:} down the pid namespaces; -1 once the process is reaped). It is written as CRIU
 * 4.2 writes it (a {@code pidfd_entry} in files.img, type PIDFD), so crit and CRIU read it.
 * <p>
 * A pidfd of a task of the dumped tree comes back as {@code pidfd_open} of the restored task, in the task that
 * holds it (every task of the tree exists by the time fds are restored, a zombie not yet dead). A pidfd of a process
 * that was already reaped (a child waited for while its pidfd stays open) comes back as CRIU does it: a pidfd of a
 * stand-in process that is killed and reaped, so it reads as exited, {@code waitid} says ECHILD and signals say
 * ESRCH. A pidfd of a process outside the tree is refused, as CRIU refuses it: nothing would be there to point to.
 * <p>
 * Its flags keep O_NONBLOCK and PIDFD_THREAD; the latter only for a thread group's leader (its tid is the pid, made
 * with the task), because the other threads are made after the fds. Its owner is kept as every fd's
 * ({@link FileOwner}), though a pidfd has no fasync and signals nobody.
 */
public final class Pidfd implements FdKind {
    static final int O_RDWR = 2, O_NONBLOCK = 04000, PIDFD_THREAD = 0200, O_CLOEXEC = 02000000;
    private static final String DEAD = "pidfd: stand-ins of reaped processes, by inode";

    @Override
    public fd_types type() {
        return fd_types.PIDFD;
    }

    @Override
    public boolean accepts(FdInfo fd) {
        return fd.target().equals("anon_inode:[pidfd]") || fd.target().startsWith("pidfd:");
    }

    /** What fdinfo says of a pidfd: the pid as Cryo sees it (-1: reaped) and the pid in each namespace below. */
    record Target(int pid, List<Integer> nspid) {
        boolean reaped() {
            return pid < 0;
        }
    }

    static Target target(FdDumpContext ctx, FdInfo fd) throws CryoException {
        Integer pid = null;
        List<Integer> ns = List.of();
        for (String line : EventObjects.fdinfoLines(ctx, fd)) {
            if (line.startsWith("Pid:")) {
                pid = Integer.parseInt(line.substring(4).trim());
            } else if (line.startsWith("NSpid:")) {
                ns = java.util.Arrays.stream(line.substring(6).trim().split("\\s+")).map(Integer::parseInt).toList();
            }
        }
        if (pid == null) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target()
                    + "): its fdinfo has no 'Pid:' line (kernel older than 5.3?)");
        }
        return new Target(pid, ns);
    }

    @Override
    public void check(FdDumpContext ctx, FdInfo fd) throws CryoException {
        nspid(ctx, fd, target(ctx, fd));
    }

    /**
     * The pid the pidfd names as the holding task sees it (its own pid namespace's level of NSpid), or -1 when it
     * was reaped; refuses a process outside the tree and a thread that is not a leader.
     */
    private static int nspid(FdDumpContext ctx, FdInfo fd, Target t) throws CryoException {
        if (t.reaped()) {
            return -1;
        }
        String what = "cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " is a pidfd of ";
        int tgid;
        int levels;
        try {
            String g = ctx.proc().status(t.pid()).get("Tgid");
            tgid = g.isEmpty() ? t.pid() : Integer.parseInt(g);
            levels = ctx.proc().status(ctx.pid()).get("NSpid").trim().split("\\s+").length;
        } catch (IOException e) {
            // gone since fdinfo was read: it is reaped by now, and a dump taken after the freeze sees Pid: -1
            tgid = t.pid();
            levels = 1;
        }
        if (!ctx.tasks().contains(tgid)) {
            throw new CryoException(what + "pid " + t.pid() + ", which is outside the tree being dumped: after a "
                    + "restore nothing would be there to point to (CRIU refuses it too); dump a tree that holds pid "
                    + t.pid() + ", or close the fd");
        }
        if (tgid != t.pid()) {
            throw new CryoException(what + "thread " + t.pid() + " of pid " + tgid + " (PIDFD_THREAD): Cryo makes a "
                    + "task's threads after the fds and cannot point a pidfd at one yet (CRIU refuses every "
                    + "PIDFD_THREAD pidfd); a PIDFD_THREAD pidfd of a leader (tid = pid) is dumped");
        }
        if (t.nspid().size() < levels) {
            throw new CryoException(what + "pid " + t.pid() + ", which its pid namespace does not show");
        }
        return t.nspid().isEmpty() ? t.pid() : t.nspid().get(levels - 1);
    }

    @Override
    public file_entry dump(FdDumpContext ctx, FdInfo fd, int id) throws CryoException {
        Target t = target(ctx, fd);
        int nspid = nspid(ctx, fd, t);
        int flags = fd.flags() & ~(O_RDWR | O_CLOEXEC); // O_RDWR always; O_CLOEXEC is the fd's, in fdinfo_entry
        ctx.log().debug("pid %d: fd %d is a pidfd of %s (flags %o, inode %d)", ctx.pid(), fd.fd(),
                t.reaped() ? "a reaped process" : "pid " + nspid, flags, fd.ino());
        var e = pidfd_entry.newBuilder().setId(id).setIno((int) fd.ino()).setFlags(flags).setNspid(nspid)
                .setFown(RegularFile.noOwner());
        return file_entry.newBuilder().setType(fd_types.PIDFD).setId(id).setPidfd(e).build();
    }

    @Override
    public int restore(FdRestoreContext ctx, file_entry file, fdinfo_entry fd) throws CryoException {
        pidfd_entry e = file.getPidfd();
        int flags = e.getFlags() & (O_NONBLOCK | PIDFD_THREAD);
        try {
            if (e.getNspid() >= 0) {
                int got = (int) ctx.syscall().call("pidfd_open(" + e.getNspid() + ")", Syscall.PIDFD_OPEN,
                        e.getNspid(), flags);
                // pidfd_open always sets FD_CLOEXEC; the caller sets it again where fdinfo_entry says so
                ctx.syscall().call("fcntl(F_SETFD)", Syscall.FCNTL, got, 2 /* F_SETFD */, 0);
                return got;
            }
            return reaped(ctx, e, fd.getFd(), flags);
        } catch (SyscallException x) {
            throw EventObjects.restoreFailed(ctx, fd.getFd(), e.getNspid() >= 0 ? "pidfd of pid " + e.getNspid()
                    : "pidfd of a reaped process", x);
        }
    }

    /**
     * A pidfd of a process reaped before the dump: a stand-in (Cryo's helper process) is started for each reaped
     * process (each pidfs inode) the first time one of its pidfds is met, every pidfd of it is a new pidfd_open of
     * the stand-in with its own flags (one open file description each, as they were), and the stand-in is killed
     * and reaped when Cryo's copies of shared files go: once every task is built, before any runs. Its pidfds then
     * read as a process long gone (SIGKILL, as CRIU's stand-in).
     */
    @SuppressWarnings("unchecked")
    private static int reaped(FdRestoreContext ctx, pidfd_entry e, int number, int flags) throws SyscallException,
            CryoException {
        var standIns = (java.util.Map<Integer, Integer>) ctx.state().computeIfAbsent(DEAD, k -> new java.util.HashMap<>());
        Integer standIn = standIns.get(e.getIno());
        if (standIn == null) {
            int p = HelperProcess.spawn();
            // traced with EXITKILL only (never stopped): a Cryo killed by SIGKILL takes its stand-in with it
            dev.cryo.engine.ptrace.Ptrace.seize(p, dev.cryo.engine.ptrace.Ptrace.O_EXITKILL);
            standIn = p;
            standIns.put(e.getIno(), p);
            SharedFiles.of(ctx).atClose(() -> {
                Syscall.raw(Syscall.KILL, p, 9);
                Syscall.raw(Syscall.WAIT4, p, 0, 0, 0);
            });
        }
        int mine = (int) Syscall.call("pidfd_open(stand-in " + standIn + ")", Syscall.PIDFD_OPEN, standIn, flags);
        try {
            int got = SharedFiles.of(ctx).give(ctx, mine);
            ctx.log().debug("pid %d: fd %d is a pidfd of a reaped process (inode %d): of stand-in %d, killed before "
                    + "the tree runs", ctx.pid(), number, e.getIno(), standIn);
            return got;
        } finally {
            Syscall.raw(Syscall.CLOSE, mine);
        }
    }
}
