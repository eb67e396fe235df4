package dev.cryo.engine.resource;

import dev.cryo.engine.log.Log;
import dev.cryo.engine.ptrace.RemoteReads;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.mm_entry;

/**
 * The prctl flags of a task that /proc does not show: child subreaper ({@code PR_SET_CHILD_SUBREAPER}), THP
 * disabled ({@code PR_SET_THP_DISABLE}, a flag of the mm) and the parent-death signal ({@code PR_SET_PDEATHSIG},
 * the leader thread's). Read with remote prctl calls while the task is frozen, kept where CRIU keeps them
 * ({@code task_core_entry.child_subreaper}, {@code mm_entry.thp_disabled}, {@code thread_core_entry.pdeath_sig}),
 * and set again in the new task. The parent-death signal is not set again on the root of a restore: its parent
 * is then the restorer, whose exit would send it (CRIU sets it only where the parent is restored too).
 * <p>
 * Also the process's membarrier registrations ({@code MEMBARRIER_CMD_GET_REGISTRATIONS}, 6.3+), kept as CRIU does in
 * {@code task_core_entry.membarrier_registration_mask}: a program registered for expedited barriers (liburcu, .NET)
 * that is not registered again gets EPERM from every barrier after the restore. And the securebits
 * ({@code PR_GET_SECUREBITS}; SECBIT_NOROOT and the others), which go into the credentials (TaskRestore.creds).
 */
public record TaskFlags(boolean childSubreaper, boolean thpDisabled, int pdeathSig, int membarrier, int securebits) {
    static final int PR_GET_PDEATHSIG = 2, PR_SET_PDEATHSIG = 1, PR_SET_CHILD_SUBREAPER = 36,
            PR_GET_CHILD_SUBREAPER = 37, PR_SET_THP_DISABLE = 41, PR_GET_THP_DISABLE = 42;
    static final int MEMBARRIER = 324, MEMBARRIER_CMD_GET_REGISTRATIONS = 1 << 9, PR_GET_SECUREBITS = 27;
    /** The registration commands GET_REGISTRATIONS reports: global, private, sync-core and rseq expedited. */
    static final int[] MEMBARRIER_REGISTRATIONS = {1 << 2, 1 << 4, 1 << 6, 1 << 8};

    /** Scratch bytes {@link #dump} needs: the two ints prctl writes. */
    public static final int DUMP_BYTES = 8;

    /** Reads the flags in the frozen task: three prctl calls added to {@code reads}. */
    public static RemoteReads.Later<TaskFlags> dump(RemoteReads reads) {
        long at = reads.out(DUMP_BYTES);
        int subreaper = reads.call("prctl(PR_GET_CHILD_SUBREAPER)", Syscall.PRCTL, PR_GET_CHILD_SUBREAPER, at);
        int pdeath = reads.call("prctl(PR_GET_PDEATHSIG)", Syscall.PRCTL, PR_GET_PDEATHSIG, at + 4);
        int thp = reads.call("prctl(PR_GET_THP_DISABLE)", Syscall.PRCTL, PR_GET_THP_DISABLE, 0, 0, 0, 0);
        int mb = reads.call("membarrier(GET_REGISTRATIONS)", MEMBARRIER, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0);
        int secure = reads.call("prctl(PR_GET_SECUREBITS)", Syscall.PRCTL, PR_GET_SECUREBITS, 0, 0, 0, 0);
        return () -> {
            reads.result(subreaper);
            reads.result(pdeath);
            java.nio.ByteBuffer b = reads.at(at, DUMP_BYTES);
            long disabled = reads.raw(thp);
            long registered = reads.raw(mb); // EINVAL before 6.3: nothing known, nothing kept
            long bits = reads.raw(secure);
            return new TaskFlags(b.getInt(0) != 0, disabled > 0 && (disabled & 1) != 0, b.getInt(4),
                    registered > 0 ? (int) registered : 0, bits > 0 ? (int) bits : 0);
        };
    }

    /** Into the images: the mm's flag. */
    public void into(mm_entry.Builder mm) {
        if (thpDisabled) {
            mm.setThpDisabled(true);
        }
    }

    /** Into the images: the leader's core (task and thread parts). */
    public void into(core_entry.Builder core) {
        if (childSubreaper && core.hasTc()) {
            core.getTcBuilder().setChildSubreaper(true);
        }
        if (pdeathSig != 0 && core.hasThreadCore()) {
            core.getThreadCoreBuilder().setPdeathSig(pdeathSig);
        }
        if (membarrier != 0 && core.hasTc()) {
            core.getTcBuilder().setMembarrierRegistrationMask(membarrier);
        }
    }

    /** Sets the flags again in the task {@code ctx} builds, its root being a restore's root. */
    public static void restore(FdRestoreContext ctx, core_entry core, mm_entry mm, boolean root, Log log)
            throws SyscallException {
        if (core.hasTc() && core.getTc().getChildSubreaper()) {
            ctx.syscall().call("prctl(PR_SET_CHILD_SUBREAPER)", Syscall.PRCTL, PR_SET_CHILD_SUBREAPER, 1);
        }
        if (mm.getThpDisabled()) {
            ctx.syscall().call("prctl(PR_SET_THP_DISABLE)", Syscall.PRCTL, PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
        int sig = core.hasThreadCore() ? core.getThreadCore().getPdeathSig() : 0;
        if (sig != 0 && root) {
            log.info("pid %d had parent-death signal %d; not set on the restored root, whose parent is the restorer",
                    ctx.pid(), sig);
        } else if (sig != 0) {
            ctx.syscall().call("prctl(PR_SET_PDEATHSIG)", Syscall.PRCTL, PR_SET_PDEATHSIG, sig);
        }
        int registered = core.hasTc() ? core.getTc().getMembarrierRegistrationMask() : 0;
        for (int cmd : MEMBARRIER_REGISTRATIONS) {
            if ((registered & cmd) != 0) {
                ctx.syscall().call("membarrier(register " + Integer.toHexString(cmd) + ")", MEMBARRIER, cmd, 0, 0);
            }
        }
    }
}
