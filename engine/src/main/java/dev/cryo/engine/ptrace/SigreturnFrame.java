package dev.cryo.engine.ptrace;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * An x86_64 signal frame ({@code struct rt_sigframe}) that holds a frozen thread's own state: its registers (with a
 * syscall it was stopped in set to start again), its signal mask and its whole xsave area. A remote syscall runs from
 * a {@code syscall; ret} instruction pair with rsp at this frame, whose return address is a {@code rt_sigreturn}
 * trampoline. Should Cryo die at any moment of the call, the kernel detaches the thread, which finishes the call,
 * returns into the trampoline, and rt_sigreturn loads exactly its own state from the frame: it runs on as it was.
 * Nothing of this runs while Cryo lives: it puts the thread's registers and mask back itself after the calls.
 *
 * <p>The frame goes where the kernel puts one when it delivers a signal, below the stack's red zone, and the bytes it
 * covers are put back with the registers.
 */
public final class SigreturnFrame {
    static final int FP_XSTATE_MAGIC1 = 0x46505853, FP_XSTATE_MAGIC2 = 0x46505845;
    /** uc_flags: the fpstate is an xsave area; ss is in the sigcontext and restored as it is. */
    static final long UC_FP_XSTATE = 1, UC_SIGCONTEXT_SS = 2, UC_STRICT_RESTORE_SS = 4;
    /**
     * The legacy area's sw_reserved: ptrace puts XCR0 in its first word; a signal frame holds the software bytes
     * there ({@code struct _fpx_sw_bytes}: magic1, extended_size, xfeatures, xstate_size), which say how much of the
     * area follows and which components rt_sigreturn loads.
     */
    static final int SW_BYTES = 464, XSTATE_BV = 512;
    /** AMX tile data: 8 KiB, the last component, in the area only of a thread that asked for it (arch_prctl). */
    static final long XTILE_DATA = 1L << 18;
    static final int XTILE_DATA_SIZE = 8192;
    /** pretcode (8), the ucontext (uc_flags, uc_link, uc_stack 24, sigcontext 256, uc_sigmask 8), siginfo (128). */
    static final int UC = 8, UC_STACK = UC + 16, MCONTEXT = UC + 40, SIGMASK = MCONTEXT + 256, HEAD = SIGMASK + 8 + 128;
    /**
     * uc_stack's ss_flags: no valid mode (SS_ONSTACK 1, SS_DISABLE 2), so rt_sigreturn's sigaltstack call fails and
     * is ignored (the kernel squashes all but EFAULT), and the thread keeps the altstack it has.
     */
    static final int SS_FLAGS_IGNORED = 3;

    private final long address;
    private final byte[] bytes;

    private SigreturnFrame(long address, byte[] bytes) {
        this.address = address;
        this.bytes = bytes;
    }

    /** Where the frame starts (its return address): the rsp of a call run from a {@code syscall; ret}. */
    public long address() {
        return address;
    }

    /** The frame's bytes, from {@link #address}. */
    public byte[] bytes() {
        return bytes.clone();
    }

    public int size() {
        return bytes.length;
    }

    /**
     * The frame for a thread, ending at or below {@code top}; null when its xsave area is not one ptrace gives (too
     * short, or no XCR0 in it).
     *
     * @param own      the thread's registers as found at the freeze
     * @param mask     its signal mask
     * @param xsave    its xsave area, as PTRACE_GETREGSET NT_X86_XSTATE gave it (standard format)
     * @param restorer the address of a {@code mov $15, %eax; syscall} (rt_sigreturn) in the thread's code
     */
    public static SigreturnFrame below(long top, Registers own, long mask, byte[] xsave, long restorer) {
        if (xsave == null || xsave.length < XSTATE_BV + 64) {
            return null;
        }
        ByteBuffer x = ByteBuffer.wrap(xsave).order(ByteOrder.LITTLE_ENDIAN);
        long xfeatures = x.getLong(SW_BYTES);
        if ((xfeatures & 3) != 3) {
            return null; // x87 and SSE are always enabled: this is no XCR0
        }
        int xstateSize = xsave.length;
        if ((xfeatures & XTILE_DATA) != 0 && (x.getLong(XSTATE_BV) & XTILE_DATA) == 0) {
            // the area has room for tiles the thread has not used: a frame larger than its own would be refused
            xfeatures &= ~XTILE_DATA;
            xstateSize -= XTILE_DATA_SIZE;
        }
        long fpstate = (top - xstateSize - 4) & ~63L; // XRSTOR takes an area aligned to 64 bytes
        long frame = fpstate - HEAD;
        ByteBuffer b = ByteBuffer.allocate((int) (fpstate + xstateSize + 4 - frame)).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, restorer);
        b.putLong(UC, UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
        b.putInt(UC_STACK + 8, SS_FLAGS_IGNORED);
        long[] w = own.resumedBySigreturn().words();
        int[] order = {Registers.R8, Registers.R9, Registers.R10, Registers.R11, Registers.R12, Registers.R13,
                Registers.R14, Registers.R15, Registers.RDI, Registers.RSI, Registers.RBP, Registers.RBX, Registers.RDX,
                Registers.RAX, Registers.RCX, Registers.RSP, Registers.RIP, Registers.EFLAGS};
        for (int i = 0; i < order.length; i++) {
            b.putLong(MCONTEXT + 8 * i, w[order[i]]);
        }
        b.putShort(MCONTEXT + 144, (short) w[Registers.CS]);
        b.putShort(MCONTEXT + 150, (short) w[Registers.SS]);
        b.putLong(MCONTEXT + 168, mask); // oldmask: what a 64-bit frame's readers show
        b.putLong(MCONTEXT + 184, fpstate);
        b.putLong(SIGMASK, mask);
        b.put(HEAD, xsave, 0, xstateSize);
        b.putInt(HEAD + SW_BYTES, FP_XSTATE_MAGIC1);
        b.putInt(HEAD + SW_BYTES + 4, xstateSize + 4); // extended_size: the area and magic2
        b.putLong(HEAD + SW_BYTES + 8, xfeatures);
        b.putInt(HEAD + SW_BYTES + 16, xstateSize);
        for (int i = SW_BYTES + 20; i < XSTATE_BV; i++) {
            b.put(HEAD + i, (byte) 0);
        }
        b.putInt(HEAD + xstateSize, FP_XSTATE_MAGIC2);
        return new SigreturnFrame(frame, b.array());
    }
}
