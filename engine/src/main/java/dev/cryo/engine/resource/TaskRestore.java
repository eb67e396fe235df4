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

/**
 * Task attributes set in the new task: fs (cwd, root, umask), personality, rlimits, OOM score adjustment, groups,
 * creds check.
 */
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
        ctx.syscall().call("personality", Syscall.PERSONALITY, tc.getPersonality());
        // comm and the robust list are the leader thread's own: ThreadState sets them
        rlimits(ctx, tc.getRlimits().getRlimitsList());
        if (tc.hasOomScoreAdj()) {
            oomScoreAdj(ctx, tc.getOomScoreAdj(), proc);
        }
        if (tc.hasLoginuid()) {
            loginuid(ctx, Integer.toUnsignedLong(tc.getLoginuid()), proc);
        }
        // session and group: a shell job joins the restorer's session; otherwise the process leads its own again
        TaskStat now = proc.stat(pid);
        int own = tree.getPid(); // the image's number: a container's task has another pid inside than ctx.pid()
        if (tree.getSid() == own && now.sid() != pid && !ctx.options().shellJob()) {
            ctx.syscall().call("setsid", Syscall.SETSID);
        } else if (tree.getPgid() == own && now.pgid() != pid) {
            ctx.syscall().call("setpgid", Syscall.SETPGID, 0, 0);
        }
    }

    static final int SETRESUID = 117, SETRESGID = 119, SETGROUPS = 116, SETFSUID = 122, SETFSGID = 123, CAPSET = 126;
    static final int PR_SET_KEEPCAPS = 8, PR_CAPBSET_DROP = 24, PR_SET_NO_NEW_PRIVS = 38, PR_CAP_AMBIENT = 47,
            PR_CAP_AMBIENT_RAISE = 2, LINUX_CAPABILITY_VERSION_3 = 0x20080522;

    /**
     * The task's credentials, as the image has them: bounding set, groups, gids, uids (capabilities kept across
     * the change), securebits, then the capability sets, ambient capabilities and no_new_privs. Runs last, once nothing the
     * restore still does in the task needs the restorer's privileges; it changes nothing when the task already
     * has the image's credentials. A process of another user comes back as that user when root restores it.
     */
    public static void creds(FdRestoreContext ctx, core_entry core, int dumpable, ProcFs proc) throws SyscallException,
            CryoException, IOException {
        creds_entry c = core.getThreadCore().getCreds();
        TaskStatus now = proc.status(ctx.pid());
        int[] uid = now.ids("Uid"), gid = now.ids("Gid");
        long inh = caps(c.getCapInhList()), prm = caps(c.getCapPrmList()), eff = caps(c.getCapEffList()),
                bnd = caps(c.getCapBndList()), amb = caps(c.getCapAmbList());
        java.util.Set<Integer> groups = new java.util.TreeSet<>(c.getGroupsList());
        java.util.Set<Integer> groupsNow = new java.util.TreeSet<>();
        for (int g : now.groups()) {
            groupsNow.add(g);
        }
        boolean idsSame = uid[0] == c.getUid() && uid[1] == c.getEuid() && uid[2] == c.getSuid() && uid[3] == c.getFsuid()
                && gid[0] == c.getGid() && gid[1] == c.getEgid() && gid[2] == c.getSgid() && gid[3] == c.getFsgid()
                && groups.equals(groupsNow);
        boolean capsSame = c.getCapEffCount() == 0 || now.hex("CapInh") == inh && now.hex("CapPrm") == prm
                && now.hex("CapEff") == eff && now.hex("CapBnd") == bnd && (amb == 0 || now.hex("CapAmb") == amb);
        String step = "credentials";
        try {
            if (!capsSame && c.getCapBndCount() > 0) {
                step = "bounding set";
                long drop = now.hex("CapBnd") & ~bnd;
                for (int cap = 0; cap < 64; cap++) {
                    if ((drop & (1L << cap)) != 0) {
                        ctx.syscall().call("prctl(PR_CAPBSET_DROP, " + cap + ")", Syscall.PRCTL, PR_CAPBSET_DROP, cap);
                    }
                }
            }
            if (!idsSame) {
                step = "groups, gids and uids";
                ctx.syscall().call("prctl(PR_SET_KEEPCAPS)", Syscall.PRCTL, PR_SET_KEEPCAPS, 1);
                NativeBuffer list = NativeBuffer.allocate(Math.max(4, 4 * groups.size()));
                int i = 0;
                for (int g : c.getGroupsList()) {
                    list.putInt(4 * i++, g);
                }
                ctx.scratch().write(0, list.bytes(0, 4 * i));
                ctx.syscall().call("setgroups", SETGROUPS, i, ctx.scratch().address());
                ctx.syscall().call("setresgid", SETRESGID, c.getGid(), c.getEgid(), c.getSgid());
                // the fs ids need CAP_SETUID/CAP_SETGID in effect unless they equal one of the others, and
                // setfsuid/setfsgid fail silently: the gid while still root; setresuid sets the fsuid to the euid
                // and empties the effective set, which the permitted one (kept) fills for the call
                ctx.syscall().call("setfsgid", SETFSGID, c.getFsgid());
                ctx.syscall().call("setresuid", SETRESUID, c.getUid(), c.getEuid(), c.getSuid());
                if (c.getFsuid() != c.getEuid()) {
                    TaskStatus kept = proc.status(ctx.pid());
                    capset(ctx, kept.hex("CapPrm"), kept.hex("CapPrm"), kept.hex("CapInh"));
                    ctx.syscall().call("setfsuid", SETFSUID, c.getFsuid());
                }
                ctx.syscall().call("prctl(PR_SET_KEEPCAPS, 0)", Syscall.PRCTL, PR_SET_KEEPCAPS, 0);
            }
            int secbits = c.getSecbits();
            // bits that would stop the restore's own ambient raise wait until it is done
            int late = secbits & (SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED);
            if (secbits != 0) {
                step = "securebits";
                // PR_SET_SECUREBITS needs CAP_SETPCAP in effect, which a change of uid cleared: the permitted set
                // (kept across it) is made effective for the call; the capset below sets the image's sets
                TaskStatus kept = proc.status(ctx.pid());
                capset(ctx, kept.hex("CapPrm"), kept.hex("CapPrm"), kept.hex("CapInh"));
                ctx.syscall().call("prctl(PR_SET_SECUREBITS)", Syscall.PRCTL, PR_SET_SECUREBITS, secbits & ~late, 0, 0, 0);
            }
            if (!capsSame || !idsSame || secbits != 0) {
                step = "capabilities";
                capset(ctx, eff, prm, inh);
                for (int cap = 0; cap < 64; cap++) {
                    if ((amb & (1L << cap)) != 0) {
                        ctx.syscall().call("prctl(PR_CAP_AMBIENT_RAISE, " + cap + ")", Syscall.PRCTL, PR_CAP_AMBIENT,
                                PR_CAP_AMBIENT_RAISE, cap, 0, 0);
                    }
                }
            }
            if (late != 0) {
                step = "securebits";
                long r = ctx.syscall().raw(Syscall.PRCTL, PR_SET_SECUREBITS, secbits, 0, 0, 0);
                if (r < 0) {
                    ctx.log().warn("pid %d: securebits %#x set without %#x (the image's capabilities lack CAP_SETPCAP "
                            + "to set them after its ambient capabilities: errno %d)", ctx.pid(), secbits, late, -r);
                }
            }
            if (!idsSame || dumpable != 1) {
                step = "dumpable flag"; // the uid change cleared it; or the program cleared it (PR_SET_DUMPABLE 0)
                ctx.syscall().call("prctl(PR_SET_DUMPABLE)", Syscall.PRCTL, 4 /* PR_SET_DUMPABLE */, dumpable == 1 ? 1 : 0);
            }
            if (c.getNoNewPrivs() != 0) {
                step = "no_new_privs";
                ctx.syscall().call("prctl(PR_SET_NO_NEW_PRIVS)", Syscall.PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            }
        } catch (SyscallException e) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": setting its " + step + " (uid "
                    + c.getUid() + ", gid " + c.getGid() + ") failed: " + e.getMessage()
                    + "; a process of another user is restored by root (CAP_SETUID, CAP_SETGID, CAP_SETPCAP)", e);
        }
    }

    static final int PR_SET_SECUREBITS = 28, SECBIT_NO_CAP_AMBIENT_RAISE = 1 << 6,
            SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 7;

    /** capset of the task itself: the three sets, as 64-bit masks. */
    private static void capset(FdRestoreContext ctx, long eff, long prm, long inh) throws SyscallException {
        NativeBuffer capData = NativeBuffer.allocate(32); // header (version, pid) + two data structs
        capData.putInt(0, LINUX_CAPABILITY_VERSION_3);
        capData.putInt(4, 0);
        capData.putInt(8, (int) eff);
        capData.putInt(12, (int) prm);
        capData.putInt(16, (int) inh);
        capData.putInt(20, (int) (eff >>> 32));
        capData.putInt(24, (int) (prm >>> 32));
        capData.putInt(28, (int) (inh >>> 32));
        ctx.scratch().write(0, capData.bytes(0, 32));
        ctx.syscall().call("capset", CAPSET, ctx.scratch().address(), ctx.scratch().address() + 8);
    }

    private static long caps(java.util.List<Integer> words) {
        long lo = words.isEmpty() ? 0 : Integer.toUnsignedLong(words.get(0));
        long hi = words.size() < 2 ? 0 : Integer.toUnsignedLong(words.get(1));
        return lo | hi << 32;
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

    static final long UNSET_LOGINUID = 4294967295L;
    static final int O_WRONLY = 1;

    /**
     * The audit login uid, as CRIU restores it: the kernel takes it only from the task itself
     * ({@code /proc/self/loginuid}), so the task writes it by remote calls; an unset one in the image is left as the
     * restorer's. One the kernel refuses (audit's loginuid made immutable) is kept with a warning.
     */
    static void loginuid(FdRestoreContext ctx, long value, ProcFs proc) throws IOException, SyscallException {
        long now = proc.loginuid(ctx.pid());
        if (value == UNSET_LOGINUID || now < 0 || now == value) {
            return;
        }
        long path = ctx.scratch().string(0, "/proc/self/loginuid");
        int fd = (int) ctx.syscall().call("open /proc/self/loginuid", Syscall.OPENAT, -100, path, O_WRONLY, 0);
        try {
            byte[] text = Long.toString(value).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            ctx.scratch().write(64, text);
            long r = ctx.syscall().raw(Syscall.WRITE, fd, ctx.scratch().address() + 64, text.length);
            if (r < 0) {
                ctx.log().warn("pid %d: loginuid %d kept at %d: the kernel refused it (errno %d)", ctx.pid(), value,
                        now, -r);
            }
        } finally {
            ctx.syscall().raw(Syscall.CLOSE, fd);
        }
    }

    /**
     * The process's OOM score adjustment, written from outside. The new task inherited the restorer's, and below the
     * floor it inherited with it only CAP_SYS_RESOURCE may go: without it the value is kept and a warning says so,
     * as for rlimits.
     */
    static void oomScoreAdj(FdRestoreContext ctx, int value, ProcFs proc) throws IOException {
        if (proc.oomScoreAdj(ctx.pid()) == value) {
            return;
        }
        java.nio.file.Path file = java.nio.file.Path.of("/proc/" + ctx.pid() + "/oom_score_adj");
        try {
            java.nio.file.Files.writeString(file, Integer.toString(value));
        } catch (java.nio.file.AccessDeniedException e) {
            ctx.log().warn("pid %d: oom_score_adj %d kept at %d (going below it needs CAP_SYS_RESOURCE)", ctx.pid(),
                    value, proc.oomScoreAdj(ctx.pid()));
        } catch (IOException e) {
            throw new IOException("cannot set the OOM score adjustment of pid " + ctx.pid() + " to " + value + ": "
                    + e.getMessage(), e);
        }
    }
}
