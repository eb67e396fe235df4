package dev.cryo.engine.ptrace;

import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.sys.SyscallException;

import java.util.List;

/** Finds a {@code syscall} instruction (0f 05) a tracee can be pointed at, without writing into its code. */
public final class SyscallSite {
    private SyscallSite() {
    }

    /** The offset of the first {@code 0f 05} in the vDSO, or -1. */
    public static long inVdso(RemoteMemory memory, List<MapsEntry> maps) throws SyscallException {
        for (MapsEntry m : maps) {
            if (m.isVdso()) {
                byte[] code = memory.read(m.start(), (int) m.length());
                for (int i = 0; i + 1 < code.length; i++) {
                    if (code[i] == 0x0f && code[i + 1] == 0x05) {
                        return m.start() + i;
                    }
                }
            }
        }
        return -1;
    }

    /** A site in the vDSO, or the instruction just before rip when the task is stopped in a syscall. */
    public static long find(RemoteMemory memory, List<MapsEntry> maps, Registers regs) throws SyscallException {
        long site = inVdso(memory, maps);
        if (site >= 0) {
            return site;
        }
        if (regs.origRax() >= 0) {
            byte[] b = memory.read(regs.rip() - 2, 2);
            if (b[0] == 0x0f && b[1] == 0x05) {
                return regs.rip() - 2;
            }
        }
        throw new SyscallException("no syscall instruction found in pid " + memory.pid() + " (no vDSO)", 38);
    }
}
