package dev.cryo.engine.resource;

import dev.cryo.image.proto.user_x86_fpregs_entry;
import dev.cryo.image.proto.user_x86_xsave_entry;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The FPU/SSE/AVX state: the kernel's xsave area (standard format, as PTRACE_GETREGSET NT_X86_XSTATE gives it)
 * to CRIU's user_x86_fpregs_entry and back. Offsets of the extended components are the architectural ones of
 * the standard format.
 */
public final class FpuState {
    static final int XSTATE_BV = 512, YMM = 576, BNDREGS = 960, BNDCSR = 1024, OPMASK = 1088, ZMM_HI256 = 1152,
            HI16_ZMM = 1664, PKRU = 2688;

    private FpuState() {
    }

    public static user_x86_fpregs_entry toImage(byte[] xsave) {
        ByteBuffer b = ByteBuffer.wrap(xsave).order(ByteOrder.LITTLE_ENDIAN);
        var e = user_x86_fpregs_entry.newBuilder()
                .setCwd(b.getShort(0) & 0xffff).setSwd(b.getShort(2) & 0xffff).setTwd(b.getShort(4) & 0xffff)
                .setFop(b.getShort(6) & 0xffff).setRip(b.getLong(8)).setRdp(b.getLong(16))
                .setMxcsr(b.getInt(24)).setMxcsrMask(b.getInt(28));
        for (int i = 0; i < 32; i++) {
            e.addStSpace(b.getInt(32 + 4 * i));
        }
        for (int i = 0; i < 64; i++) {
            e.addXmmSpace(b.getInt(160 + 4 * i));
        }
        for (int i = 0; i < 24; i++) {
            e.addPadding(b.getInt(416 + 4 * i));
        }
        if (xsave.length > XSTATE_BV + 64) {
            long bv = b.getLong(XSTATE_BV);
            var x = user_x86_xsave_entry.newBuilder().setXstateBv(bv);
            if (has(xsave, YMM, 256)) {
                for (int i = 0; i < 64; i++) {
                    x.addYmmhSpace(b.getInt(YMM + 4 * i));
                }
            }
            if (has(xsave, BNDCSR, 16) && (bv & (3L << 3)) != 0) {
                for (int i = 0; i < 8; i++) {
                    x.addBndregState(b.getLong(BNDREGS + 8 * i));
                }
                for (int i = 0; i < 2; i++) {
                    x.addBndcsrState(b.getLong(BNDCSR + 8 * i));
                }
            }
            if (has(xsave, HI16_ZMM, 1024)) {
                for (int i = 0; i < 8; i++) {
                    x.addOpmaskReg(b.getLong(OPMASK + 8 * i));
                }
                for (int i = 0; i < 64; i++) {
                    x.addZmmUpper(b.getLong(ZMM_HI256 + 8 * i));
                }
                for (int i = 0; i < 128; i++) {
                    x.addHi16Zmm(b.getLong(HI16_ZMM + 8 * i));
                }
            }
            if (has(xsave, PKRU, 8)) {
                x.addPkru(b.getInt(PKRU));
            }
            e.setXsave(x);
        }
        return e.build();
    }

    private static boolean has(byte[] xsave, int offset, int length) {
        return xsave.length >= offset + length;
    }

    /** Overlays the image's state on a template xsave area of this kernel (the new task's own) and returns it. */
    public static byte[] fromImage(user_x86_fpregs_entry e, byte[] template) {
        byte[] out = template.clone();
        ByteBuffer b = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort(0, (short) e.getCwd()).putShort(2, (short) e.getSwd()).putShort(4, (short) e.getTwd())
                .putShort(6, (short) e.getFop()).putLong(8, e.getRip()).putLong(16, e.getRdp())
                .putInt(24, e.getMxcsr()).putInt(28, e.getMxcsrMask());
        for (int i = 0; i < e.getStSpaceCount() && i < 32; i++) {
            b.putInt(32 + 4 * i, e.getStSpace(i));
        }
        for (int i = 0; i < e.getXmmSpaceCount() && i < 64; i++) {
            b.putInt(160 + 4 * i, e.getXmmSpace(i));
        }
        if (e.hasXsave() && out.length > XSTATE_BV + 64) {
            var x = e.getXsave();
            long supported = b.getLong(464 + 8); // fx_sw_bytes.xfeatures: what this kernel saves
            b.putLong(XSTATE_BV, x.getXstateBv() & (supported == 0 ? -1L : supported));
            b.putLong(XSTATE_BV + 8, 0); // standard format
            for (int i = 0; i < x.getYmmhSpaceCount() && has(out, YMM + 4 * i, 4); i++) {
                b.putInt(YMM + 4 * i, x.getYmmhSpace(i));
            }
            for (int i = 0; i < x.getBndregStateCount() && has(out, BNDREGS + 8 * i, 8); i++) {
                b.putLong(BNDREGS + 8 * i, x.getBndregState(i));
            }
            for (int i = 0; i < x.getBndcsrStateCount() && has(out, BNDCSR + 8 * i, 8); i++) {
                b.putLong(BNDCSR + 8 * i, x.getBndcsrState(i));
            }
            for (int i = 0; i < x.getOpmaskRegCount() && has(out, OPMASK + 8 * i, 8); i++) {
                b.putLong(OPMASK + 8 * i, x.getOpmaskReg(i));
            }
            for (int i = 0; i < x.getZmmUpperCount() && has(out, ZMM_HI256 + 8 * i, 8); i++) {
                b.putLong(ZMM_HI256 + 8 * i, x.getZmmUpper(i));
            }
            for (int i = 0; i < x.getHi16ZmmCount() && has(out, HI16_ZMM + 8 * i, 8); i++) {
                b.putLong(HI16_ZMM + 8 * i, x.getHi16Zmm(i));
            }
            if (x.getPkruCount() > 0 && has(out, PKRU, 4)) {
                b.putInt(PKRU, x.getPkru(0));
            }
        }
        return out;
    }
}
