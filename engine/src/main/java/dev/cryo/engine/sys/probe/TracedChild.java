package dev.cryo.engine.sys.probe;

import dev.cryo.engine.sys.LibC;
import jnr.ffi.Pointer;

import java.io.IOException;

import static dev.cryo.engine.sys.probe.ProbeCalls.*;

/**
 * The ptrace features the engine freezes and reads a process with, exercised on a throwaway {@code sleep}:
 * {@code PTRACE_SEIZE}, {@code PTRACE_INTERRUPT} with its group-stop event, {@code PTRACE_DETACH}, and
 * {@code PTRACE_GET_RSEQ_CONFIGURATION}. Every request comes from the calling thread, which attached.
 */
public final class TracedChild {
    private static final int PTRACE_DETACH = 17, PTRACE_SEIZE = 0x4206, PTRACE_INTERRUPT = 0x4207,
            PTRACE_GET_RSEQ_CONFIGURATION = 0x420f;
    private static final int SIGTRAP = 5, PTRACE_EVENT_STOP = 128;
    /** {@code struct ptrace_rseq_configuration}: u64 rseq_abi_pointer, u32 size, u32 signature, u32 flags, u32 pad. */
    private static final int RSEQ_CONF_SIZE = 32;

    /** @param seize what SEIZE/INTERRUPT/DETACH did; @param rseq what GET_RSEQ_CONFIGURATION did */
    public record Findings(Finding seize, Finding rseq) {
    }

    private TracedChild() {
    }

    public static Findings probe() {
        ThrowawayChild child;
        try {
            child = ThrowawayChild.spawnSleep();
        } catch (IOException e) {
            Finding none = Finding.no("no process to trace: " + e.getMessage());
            return new Findings(none, none);
        }
        try (child) {
            int pid = child.pid();
            boolean settled = child.awaitSleeping(1000);
            if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) {
                Finding f = Finding.no("PTRACE_SEIZE of a spawned sleep (pid " + pid + ") failed: " + lastErrno()
                        + " (check /proc/sys/kernel/yama/ptrace_scope and CAP_SYS_PTRACE)");
                return new Findings(f, Finding.no("not probed: cannot trace"));
            }
            if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0) {
                Finding f = Finding.no("PTRACE_INTERRUPT failed: " + lastErrno());
                return new Findings(f, Finding.no("not probed: cannot stop the tracee"));
            }
            long status = child.waitStatus();
            boolean eventStop = status >= 0 && (status & 0xff) == 0x7f
                    && ((status >> 8) & 0xffff) == (SIGTRAP | PTRACE_EVENT_STOP << 8);
            if (!eventStop) {
                Finding f = Finding.no("PTRACE_INTERRUPT gave no PTRACE_EVENT_STOP: "
                        + (status < 0 ? errno(status) : "wait status 0x" + Long.toHexString(status)));
                return new Findings(f, Finding.no("not probed: the tracee did not stop"));
            }
            Finding rseq = rseqConfiguration(pid, settled);
            if (ptrace(PTRACE_DETACH, pid, 0, 0) < 0) {
                return new Findings(Finding.no("PTRACE_DETACH failed: " + lastErrno()), rseq);
            }
            return new Findings(Finding.yes("seized, interrupted to PTRACE_EVENT_STOP and detached a spawned "
                    + "sleep (pid " + pid + ")"), rseq);
        }
    }

    private static Finding rseqConfiguration(int pid, boolean settled) {
        Pointer conf = memory(RSEQ_CONF_SIZE);
        long r = LibC.INSTANCE.ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, RSEQ_CONF_SIZE, conf);
        if (r < 0) {
            int errno = LibC.errno();
            return Finding.no("PTRACE_GET_RSEQ_CONFIGURATION failed: " + errno(-errno)
                    + (errno == EIO ? " (kernel < 5.13)" : ""));
        }
        long abi = conf.getLong(0);
        if (abi == 0) {
            return Finding.yes("PTRACE_GET_RSEQ_CONFIGURATION answers (the tracee had "
                    + (settled ? "no rseq area registered)" : "not finished starting)"));
        }
        return Finding.yes(String.format("PTRACE_GET_RSEQ_CONFIGURATION reads the tracee's rseq area "
                + "(%d bytes, signature 0x%08x)", conf.getInt(8), conf.getInt(12)));
    }

    private static long ptrace(long request, int pid, long addr, long data) {
        return LibC.INSTANCE.ptrace(request, pid, addr, data);
    }

    private static String lastErrno() {
        return errno(-LibC.errno());
    }
}
