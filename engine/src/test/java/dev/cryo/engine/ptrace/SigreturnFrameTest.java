package dev.cryo.engine.ptrace;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The rt_sigframe a remote call returns into should Cryo die: the layout rt_sigreturn reads on x86_64. */
class SigreturnFrameTest {
    static final long XCR0_AVX512 = 0x2e7;

    private static byte[] xsave(int length, long xcr0, long xstateBv) {
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(464, xcr0); // where ptrace puts XCR0
        b.putLong(512, xstateBv);
        b.put(600, (byte) 0x5a);
        return b.array();
    }

    private static Registers stoppedInSigsuspend() {
        return new Registers(new long[Registers.COUNT]).with(Registers.RIP, 0x401002).with(Registers.RSP, 0x7ffe1000)
                .with(Registers.ORIG_RAX, 130).with(Registers.RAX, Registers.ERESTARTNOHAND).with(Registers.R12, 12)
                .with(Registers.CS, 0x33).with(Registers.SS, 0x2b).with(Registers.EFLAGS, 0x246);
    }

    @Test
    void theFrameHoldsTheThreadsOwnStateWhereRtSigreturnReadsIt() {
        long top = 0x7ffe0f80;
        SigreturnFrame f = SigreturnFrame.below(top, stoppedInSigsuspend(), 0x1234, xsave(2696, XCR0_AVX512, 7),
                0x7f00_0000_3c050L);
        ByteBuffer b = ByteBuffer.wrap(f.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0x7f00_0000_3c050L, b.getLong(0), "the return address: the trampoline");
        long fpstate = b.getLong(SigreturnFrame.MCONTEXT + 184);
        assertEquals(0, fpstate % 64, "XRSTOR takes an aligned area");
        assertEquals(f.address() + SigreturnFrame.HEAD, fpstate);
        assertTrue(f.address() + f.size() <= top);
        assertEquals(0x401000, b.getLong(SigreturnFrame.MCONTEXT + 128), "rip before the syscall instruction");
        assertEquals(130, b.getLong(SigreturnFrame.MCONTEXT + 104), "rax: sigsuspend, made again");
        assertEquals(12, b.getLong(SigreturnFrame.MCONTEXT + 32), "r12");
        assertEquals(0x7ffe1000, b.getLong(SigreturnFrame.MCONTEXT + 120), "its own rsp");
        assertEquals(0x33, b.getShort(SigreturnFrame.MCONTEXT + 144));
        assertEquals(0x2b, b.getShort(SigreturnFrame.MCONTEXT + 150));
        assertEquals(0x1234, b.getLong(SigreturnFrame.SIGMASK), "its own mask");
        assertEquals(SigreturnFrame.SS_FLAGS_IGNORED, b.getInt(SigreturnFrame.UC_STACK + 8), "its altstack left alone");
        int fp = SigreturnFrame.HEAD;
        assertEquals(SigreturnFrame.FP_XSTATE_MAGIC1, b.getInt(fp + 464));
        assertEquals(2696 + 4, b.getInt(fp + 468));
        assertEquals(XCR0_AVX512, b.getLong(fp + 472));
        assertEquals(2696, b.getInt(fp + 480));
        assertEquals(0x5a, b.get(fp + 600), "the xsave area itself");
        assertEquals(SigreturnFrame.FP_XSTATE_MAGIC2, b.getInt(fp + 2696));
    }

    @Test
    void unusedTileDataIsLeftOutSoTheFrameFitsTheThreadsOwnArea() {
        long amx = XCR0_AVX512 | SigreturnFrame.XTILE_DATA | 1L << 17;
        SigreturnFrame f = SigreturnFrame.below(0x7ffe0f80, stoppedInSigsuspend(), 0, xsave(11008, amx, 7), 1);
        ByteBuffer b = ByteBuffer.wrap(f.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(11008 - 8192, b.getInt(SigreturnFrame.HEAD + 480));
        assertEquals(amx & ~SigreturnFrame.XTILE_DATA, b.getLong(SigreturnFrame.HEAD + 472));
    }

    @Test
    void anAreaWithoutXcr0GetsNoFrame() {
        assertNull(SigreturnFrame.below(0x7ffe0f80, stoppedInSigsuspend(), 0, xsave(2696, 0, 0), 1));
        assertNull(SigreturnFrame.below(0x7ffe0f80, stoppedInSigsuspend(), 0, new byte[512], 1));
    }
}
