package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.mm_entry;
import dev.cryo.image.proto.thread_info_x86;
import dev.cryo.image.proto.user_x86_fpregs_entry;
import dev.cryo.image.proto.user_x86_regs_entry;
import dev.cryo.image.proto.user_x86_xsave_entry;
import dev.cryo.image.proto.vma_entry;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Images from another machine, told apart by their FPU state's xfeatures and their vDSO block. */
class HostCompatibilityTest {
    static final long X87_SSE_AVX = 0b111, AVX512 = 0b1110_0000;
    static final HostCompatibility.Host HOST = new HostCompatibility.Host(X87_SSE_AVX, 0x4000 + 0x2000);

    /** An fpregs entry whose software bytes (464..) hold {@code sw0} and {@code sw1} as 64-bit words. */
    private static user_x86_fpregs_entry fpregs(long sw0, long sw1, long xstateBv) {
        var f = user_x86_fpregs_entry.newBuilder().setCwd(0).setSwd(0).setTwd(0).setFop(0).setRip(0).setRdp(0)
                .setMxcsr(0).setMxcsrMask(0);
        for (int i = 0; i < 24; i++) {
            long w = i == 12 ? sw0 : i == 13 ? sw0 >>> 32 : i == 14 ? sw1 : i == 15 ? sw1 >>> 32 : 0;
            f.addPadding((int) w);
        }
        return f.setXsave(user_x86_xsave_entry.newBuilder().setXstateBv(xstateBv)).build();
    }

    private static core_entry core(user_x86_fpregs_entry f) {
        var regs = user_x86_regs_entry.newBuilder();
        for (var field : user_x86_regs_entry.getDescriptor().getFields()) {
            if (field.isRequired()) {
                regs.setField(field, 0L);
            }
        }
        return core_entry.newBuilder().setMtype(core_entry.march.X86_64).setThreadInfo(thread_info_x86.newBuilder()
                .setClearTidAddr(0).setGpregs(regs).setFpregs(f)).build();
    }

    private static mm_entry mm(long vdsoBlock) {
        var v = vma_entry.newBuilder().setPgoff(0).setShmid(0).setProt(5).setFlags(2).setFd(-1);
        return mm_entry.newBuilder().setMmStartCode(0).setMmEndCode(0).setMmStartData(0).setMmEndData(0)
                .setMmStartStack(0).setMmStartBrk(0).setMmBrk(0).setMmArgStart(0).setMmArgEnd(0).setMmEnvStart(0)
                .setMmEnvEnd(0).setExeFileId(0)
                .addVmas(v.clone().setStart(0x7000_0000L).setEnd(0x7000_0000L + vdsoBlock - 0x2000)
                        .setStatus(HostCompatibility.VMA_AREA_VVAR))
                .addVmas(v.clone().setStart(0x7000_0000L + vdsoBlock - 0x2000).setEnd(0x7000_0000L + vdsoBlock)
                        .setStatus(HostCompatibility.VMA_AREA_VDSO))
                .build();
    }

    private static void check(user_x86_fpregs_entry f, long vdsoBlock) throws CryoException {
        HostCompatibility.check(List.of(new HostCompatibility.Task(42, List.of(core(f)), mm(vdsoBlock))), HOST);
    }

    @Test
    void ptracesXcr0WordNamesTheFeaturesThisCpuLacks() {
        // the dumping CPU had AVX-512; the program used only SSE at the moment of the dump: still refused
        CryoException e = assertThrows(CryoException.class, () -> check(fpregs(X87_SSE_AVX | AVX512, 0, 0b11), 0x6000));
        assertTrue(e.getMessage().startsWith("cannot restore pid 42: "), e.getMessage());
        assertTrue(e.getMessage().contains("AVX-512 opmask, AVX-512 ZMM_Hi256, AVX-512 Hi16_ZMM (xsave features 0xe0)"),
                e.getMessage());
        assertTrue(e.getMessage().contains("it has 0x7"), e.getMessage());
    }

    @Test
    void theFpxsFrameOfAnInTaskSaveIsReadToo() {
        long fpxs = HostCompatibility.FP_XSTATE_MAGIC1 | (2696L << 32); // magic1, extended_size
        CryoException e = assertThrows(CryoException.class, () -> check(fpregs(fpxs, X87_SSE_AVX | (1L << 9), 0b11), 0x6000));
        assertTrue(e.getMessage().contains("PKRU (xsave features 0x200)"), e.getMessage());
        assertDoesNotThrow(() -> check(fpregs(fpxs, X87_SSE_AVX, 0b111), 0x6000));
    }

    @Test
    void withoutSoftwareBytesTheComponentsInUseAreChecked() throws CryoException {
        assertEquals(AVX512 | 0b11, HostCompatibility.imageXfeatures(fpregs(0, 0, AVX512 | 0b11)));
        assertThrows(CryoException.class, () -> check(fpregs(0, 0, AVX512 | 0b11), 0x6000));
        check(fpregs(0, 0, 0b111), 0x6000);
    }

    @Test
    void aVdsoBlockOfAnotherSizeIsAnotherKernel() {
        CryoException e = assertThrows(CryoException.class, () -> check(fpregs(X87_SSE_AVX, 0, 0b11), 0x5000));
        assertTrue(e.getMessage().contains("vDSO block ([vvar] and [vdso]) has 20480 bytes in the images but 24576"),
                e.getMessage());
    }

    @Test
    void thisMachineAcceptsWhatItWouldWrite() throws CryoException {
        HostCompatibility.Host here = HostCompatibility.Host.current();
        assertTrue(here.vdsoBlockBytes() > 0, "this kernel maps a vDSO");
        Assumptions.assumeTrue(here.xfeatures() != -1L, "arch_prctl(ARCH_GET_XCOMP_SUPP) needs Linux 5.16");
        assertEquals(0b11, here.xfeatures() & 0b11, "x87 and SSE");
        HostCompatibility.check(List.of(new HostCompatibility.Task(1, List.of(core(fpregs(here.xfeatures(), 0, 0b11))),
                mm(here.vdsoBlockBytes()))), here);
    }
}
