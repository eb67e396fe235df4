package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.image.proto.user_x86_fpregs_entry;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The xsave layout: AMD's Zen 4 and 5 put the AVX-512 parts elsewhere than Intel, and a layout assumed instead of
 * asked for lost the opmask and zmm registers of every thread on such a CPU (a JVM's copied heap came back changed).
 */
class XsaveLayoutTest {
    @Test
    void theAreaTellsIntelFromAmd() throws Exception {
        XsaveLayout intel = XsaveLayout.inferred(0x2e7, 2696);
        assertEquals(1088, intel.offset(XsaveLayout.OPMASK));
        assertEquals(1152, intel.offset(XsaveLayout.ZMM_HI256));
        assertEquals(1664, intel.offset(XsaveLayout.HI16_ZMM));
        assertEquals(2688, intel.offset(XsaveLayout.PKRU));
        XsaveLayout amd = XsaveLayout.inferred(0xe7, 2432);
        assertEquals(832, amd.offset(XsaveLayout.OPMASK));
        assertEquals(896, amd.offset(XsaveLayout.ZMM_HI256));
        assertEquals(1408, amd.offset(XsaveLayout.HI16_ZMM));
        assertEquals(2440 - 8, XsaveLayout.inferred(0x2e7, 2440).offset(XsaveLayout.PKRU), "Zen 4 with PKU");
        assertEquals(576, XsaveLayout.inferred(0x7, 832).offset(XsaveLayout.YMM), "AVX only: both agree");
    }

    @Test
    void anAreaNoKnownLayoutFitsIsRefusedNotGuessed() {
        CryoException e = assertThrows(CryoException.class, () -> XsaveLayout.inferred(0xe7, 3000));
        assertTrue(e.getMessage().contains("xsave layout is unknown") && e.getMessage().contains("/dev/cpu/0/cpuid"),
                e.getMessage());
    }

    @Test
    void cpuidAgreesWithWhatTheAreaTells() throws Exception {
        XsaveLayout cpu = XsaveLayout.cpuid();
        if (cpu == null) {
            System.out.println("SKIP cpuidAgreesWithWhatTheAreaTells: /dev/cpu/0/cpuid cannot be read here");
            return;
        }
        long xcr0 = dev.cryo.engine.restore.HostCompatibility.xfeatures();
        if (xcr0 == -1) {
            System.out.println("SKIP cpuidAgreesWithWhatTheAreaTells: this kernel cannot say which xsave features it has");
            return;
        }
        int end = 576;
        for (int c = 2; c < 19; c++) {
            if ((xcr0 & (1L << c)) != 0 && cpu.offset(c) >= 0) {
                end = Math.max(end, cpu.offset(c) + XsaveLayout.SIZES[c]);
            }
        }
        XsaveLayout told = XsaveLayout.inferred(xcr0, end);
        for (int c = 2; c < 19; c++) {
            if ((xcr0 & (1L << c)) != 0) {
                assertEquals(cpu.offset(c), told.offset(c), "component " + c);
            }
        }
    }

    /** Every byte of every component this CPU has survives the image and comes back at the same place. */
    @Test
    void anAreaComesBackFromItsImage() throws Exception {
        XsaveLayout cpu = XsaveLayout.cpuid();
        long supported = dev.cryo.engine.restore.HostCompatibility.xfeatures();
        if (supported == -1) {
            System.out.println("SKIP anAreaComesBackFromItsImage: this kernel cannot say which xsave features it has");
            return;
        }
        long xcr0 = supported & XsaveLayout.KNOWN | 0b11;
        int length = 576;
        XsaveLayout layout = cpu != null ? cpu : XsaveLayout.inferred(xcr0, xcr0 == 0xe7 ? 2432 : 2696);
        for (int c = 2; c < 19; c++) {
            if ((xcr0 & (1L << c)) != 0) {
                length = Math.max(length, layout.offset(c) + XsaveLayout.SIZES[c]);
            }
        }
        Random rnd = new Random(7);
        byte[] area = new byte[length];
        ByteBuffer b = ByteBuffer.wrap(area).order(ByteOrder.LITTLE_ENDIAN);
        for (int c = 2; c < 19; c++) {
            if ((xcr0 & (1L << c)) != 0) {
                for (int i = 0; i < XsaveLayout.SIZES[c]; i++) {
                    area[layout.offset(c) + i] = (byte) (rnd.nextInt(255) + 1);
                }
            }
        }
        b.putLong(FpuState.SW_XCR0, xcr0);
        b.putLong(FpuState.XSTATE_BV, xcr0);
        user_x86_fpregs_entry image = FpuState.toImage(area, 1);
        byte[] template = new byte[length];
        ByteBuffer.wrap(template).order(ByteOrder.LITTLE_ENDIAN).putLong(FpuState.SW_XCR0, xcr0);
        byte[] back = FpuState.fromImage(image, template);
        for (int c = 2; c < 19; c++) {
            if ((xcr0 & (1L << c)) != 0) {
                int at = layout.offset(c), n = XsaveLayout.SIZES[c];
                assertArrayEquals(java.util.Arrays.copyOfRange(area, at, at + n),
                        java.util.Arrays.copyOfRange(back, at, at + n), "component " + c + " at " + at);
            }
        }
    }
}
