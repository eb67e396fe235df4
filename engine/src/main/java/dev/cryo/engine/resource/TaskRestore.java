package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStat;
import dev.cryo.engine.proc.TaskStatus;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.creds_entry;
import dev.cryo.image.proto.pstree_entry;
import dev.cryo.image.proto.rlimit_entry;

import java.io.IOException;

/** Task attributes set in the new task: fs (cwd, root, umask), personality, rlimits, groups, creds check. */
public final class TaskRestore {
    static final int CHDIR = 80, CHROOT = 161;

    private TaskRestore() {
    }

    public static void fs(FdRestoreContext ctx, String cwd, String root, int umask) throws SyscallException {
        if (!root.equals("/")) {
            ctx.syscall().call("chroot(" + root + ")", CHROOT, ctx.scratch().string(0, root));
        }
        ctx.syscall().call("chdir(" + cwd + ")", CHDIR, ctx.scratch().string(0, cwd));
        ctx.syscall().call("umask", Syscall.UMASK, umask);
    }

    public static void task(FdRestoreContext ctx, core_entry core, pstree_entry tree, ProcFs proc)
            throws SyscallException, CryoException, IOException {
        int pid = ctx.pid();
        var tc = core.getTc();
        var th = core.getThreadCore();
        checkCreds(pid, th.getCreds(), proc.status(pid));
        ctx.syscall().call("personality", Syscall.PERSONALITY, tc.getPersonality());
        // comm and the robust list are the leader thread's own: ThreadState sets them
        rlimits(ctx, tc.getRlimits().getRlimitsList());
        // session and group: a shell job joins the restorer's session; otherwise the process leads its own again
        TaskStat now = proc.stat(pid);
        if (tree.getSid() == pid && now.sid() != pid && !ctx.options().shellJob()) {
            ctx.syscall().call("setsid", Syscall.SETSID);
        } else if (tree.getPgid() == pid && now.pgid() != pid) {
            ctx.syscall().call("setpgid", Syscall.SETPGID, 0, 0);
        }
    }

    /** Creds are checked, not changed: the task runs with the restorer's. */
    static void checkCreds(int pid, creds_entry c, TaskStatus now) throws CryoException {
        int[] uid = now.ids("Uid");
        int[] gid = now.ids("Gid");
        if (c.getUid() != uid[0] || c.getEuid() != uid[1] || c.getGid() != gid[0] || c.getEgid() != gid[1]) {
            throw new CryoException("cannot restore pid " + pid + ": it ran as uid " + c.getUid() + " gid "
                    + c.getGid() + ", but the restore runs as uid " + uid[0] + " gid " + gid[0]
                    + "; restore as the same user");
        }
    }

    /** prlimit from outside; a hard limit this process may not raise is kept, and the soft one clamped. */
    static void rlimits(FdRestoreContext ctx, java.util.List<rlimit_entry> limits) throws SyscallException {
        NativeBuffer b = NativeBuffer.allocate(32);
        for (int res = 0; res < limits.size() && res < TaskRestore.RLIM_NLIMITS; res++) {
            rlimit_entry l = limits.get(res);
            b.putLong(0, l.getCur());
            b.putLong(8, l.getMax());
            long r = Syscall.raw(Syscall.PRLIMIT64, ctx.pid(), res, b.address(), 0);
            if (r == -1 /* EPERM */) {
                Syscall.call("prlimit64", Syscall.PRLIMIT64, ctx.pid(), res, 0, b.address() + 16);
                long max = b.getLong(24);
                long cur = Long.compareUnsigned(l.getCur(), max) > 0 ? max : l.getCur();
                b.putLong(0, cur);
                b.putLong(8, max);
                Syscall.call("prlimit64", Syscall.PRLIMIT64, ctx.pid(), res, b.address(), 0);
                ctx.log().warn("pid %d: rlimit %d hard limit %s kept at %s (raising it needs CAP_SYS_RESOURCE)",
                        ctx.pid(), res, Long.toUnsignedString(l.getMax()), Long.toUnsignedString(max));
            } else if (r < 0) {
                throw new SyscallException("prlimit64(" + ctx.pid() + ", " + res + ")", (int) -r);
            }
        }
    }

    static final int RLIM_NLIMITS = 16;
}
