package dev.cryo.engine.resource;

import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.proc.TaskStatus;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.creds_entry;
import dev.cryo.image.proto.rlimit_entry;
import dev.cryo.image.proto.task_kobj_ids_entry;
import dev.cryo.image.proto.task_rlimits_entry;

import java.io.IOException;

/** Task attributes readable from outside the task: rlimits, creds, ids (a thread's own are {@link ThreadState}'s). */
public final class TaskResources {
    public static final int RLIM_NLIMITS = 16;
    static final int CLOCK_GETTIME = 228;

    private TaskResources() {
    }

    /** Two longs for prlimit64 and get_robust_list, per thread: a direct buffer is costly to allocate cold. */
    private static final ThreadLocal<NativeBuffer> PAIR = ThreadLocal.withInitial(() -> NativeBuffer.allocate(16));

    /** Makes this thread's buffer now (before a freeze), so that the frozen window does not. */
    public static void prepareThread() {
        PAIR.get();
    }

    public static task_rlimits_entry rlimits(int pid) throws SyscallException {
        NativeBuffer b = PAIR.get();
        var r = task_rlimits_entry.newBuilder();
        for (int res = 0; res < RLIM_NLIMITS; res++) {
            long rc = Syscall.raw(Syscall.PRLIMIT64, pid, res, 0, b.address());
            if (rc == -1 /* EPERM */) {
                // another user's task and no CAP_SYS_RESOURCE (CRIU stops at "Can't get rlimit"): the kernel shows
                // the same limits to anyone in /proc/PID/limits
                return rlimitsFromProc(pid);
            }
            if (rc < 0) { // the message is built only on failure: this runs while the target is frozen
                throw new SyscallException("prlimit64(" + pid + ", " + res + ")", (int) -rc);
            }
            r.addRlimits(rlimit_entry.newBuilder().setCur(b.getLong(0)).setMax(b.getLong(8)));
        }
        return r.build();
    }

    /** The limits as /proc/PID/limits prints them, in RLIMIT_* order ("unlimited" is RLIM_INFINITY). */
    static task_rlimits_entry rlimitsFromProc(int pid) throws SyscallException {
        java.util.List<String> lines;
        try {
            lines = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/" + pid + "/limits"));
        } catch (IOException e) {
            throw new SyscallException("prlimit64(" + pid + ") and /proc/" + pid + "/limits (" + e.getMessage() + ")", 1);
        }
        return parseLimits(lines);
    }

    static task_rlimits_entry parseLimits(java.util.List<String> lines) {
        var r = task_rlimits_entry.newBuilder();
        // the file's rows come in the kernel's RLIMIT_* order; the columns start where the header's do
        int soft = lines.get(0).indexOf("Soft Limit"), hard = lines.get(0).indexOf("Hard Limit"),
                units = lines.get(0).indexOf("Units");
        for (String line : lines.subList(1, Math.min(lines.size(), RLIM_NLIMITS + 1))) {
            r.addRlimits(rlimit_entry.newBuilder().setCur(limit(line.substring(soft, hard)))
                    .setMax(limit(line.substring(hard, Math.min(units, line.length())))));
        }
        return r.build();
    }

    private static long limit(String column) {
        String v = column.strip();
        return v.equals("unlimited") ? -1L : Long.parseUnsignedLong(v);
    }

    public static int oomScoreAdj(ProcFs proc, int pid) throws IOException {
        return proc.oomScoreAdj(pid);
    }

    /** The task's creds as /proc shows them, with the securebits prctl gave (PR_GET_SECUREBITS). */
    public static creds_entry creds(TaskStatus s, int securebits) {
        int[] uid = s.ids("Uid");
        int[] gid = s.ids("Gid");
        var c = creds_entry.newBuilder().setUid(uid[0]).setEuid(uid[1]).setSuid(uid[2]).setFsuid(uid[3])
                .setGid(gid[0]).setEgid(gid[1]).setSgid(gid[2]).setFsgid(gid[3]).setSecbits(securebits);
        addCaps(c::addCapInh, s.hex("CapInh"));
        addCaps(c::addCapPrm, s.hex("CapPrm"));
        addCaps(c::addCapEff, s.hex("CapEff"));
        addCaps(c::addCapBnd, s.hex("CapBnd"));
        if (!s.get("CapAmb").isEmpty()) {
            addCaps(c::addCapAmb, s.hex("CapAmb"));
        }
        if (!s.get("NoNewPrivs").isEmpty()) {
            c.setNoNewPrivs(Integer.parseInt(s.get("NoNewPrivs").strip()));
        }
        for (int g : s.groups()) {
            c.addGroups(g);
        }
        return c.build();
    }

    private static void addCaps(java.util.function.IntFunction<?> add, long caps) {
        add.apply((int) caps);
        add.apply((int) (caps >>> 32));
    }

    public static task_kobj_ids_entry ids(int id) {
        return task_kobj_ids_entry.newBuilder().setVmId(id).setFilesId(id).setFsId(id).setSighandId(id)
                .setPidNsId(1).setNetNsId(2).setIpcNsId(3).setUtsNsId(4).setMntNsId(5).setUserNsId(6)
                .setCgroupNsId(7).setTimeNsId(8).build();
    }

}
