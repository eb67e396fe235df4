package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.image.proto.user_x86_fpregs_entry;
import dev.cryo.image.proto.user_x86_xsave_entry;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * The FPU/SSE/AVX state: the kernel's xsave area (standard format, as PTRACE_GETREGSET NT_X86_XSTATE gives it)
 * to CRIU's user_x86_fpregs_entry and back. The extended components sit where this CPU's {@link XsaveLayout}
 * says; the image holds each by itself, so an image moves between CPUs that place them differently.
 */
public final class FpuState {
    static final int XSTATE_BV = 512;
    /** Where ptrace puts XCR0 in the software-reserved bytes. */
    static final int SW_XCR0 = 464;

    private FpuState() {
    }

    /**
     * Refuses an area {@link #toImage} could not turn into an image, without building one: run while the thread is
     * frozen, so that the refusal comes while it can still run on as it was.
     *
     * @throws CryoException as {@link #toImage} would
     */
    public static void check(byte[] xsave, int tid) throws CryoException {
        if (xsave.length > XSTATE_BV + 64) {
            unknown(ByteBuffer.wrap(xsave).order(ByteOrder.LITTLE_ENDIAN).getLong(XSTATE_BV), tid);
            XsaveLayout.of(xsave);
        }
    }

    private static void unknown(long bv, int tid) throws CryoException {
        long unknown = bv & ~XsaveLayout.KNOWN & ~0b11L;
        if (unknown != 0) {
            throw new CryoException("thread " + tid + " holds xsave state " + Long.toHexString(unknown)
                    + " (" + dev.cryo.engine.restore.HostCompatibility.names(unknown) + "), which CRIU's "
                    + "image format has no place for: it cannot be dumped");
        }
    }

    /**
     * The image of thread {@code tid}'s area.
     *
     * @throws CryoException when the thread holds state the image has no place for, or the layout is unknown
     */
    public static user_x86_fpregs_entry toImage(byte[] xsave, int tid) throws CryoException {
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
            unknown(bv, tid);
            XsaveLayout layout = XsaveLayout.of(xsave);
            var x = user_x86_xsave_entry.newBuilder().setXstateBv(bv);
            if (layout.holds(XsaveLayout.YMM, xsave.length)) {
                int at = layout.offset(XsaveLayout.YMM);
                for (int i = 0; i < 64; i++) {
                    x.addYmmhSpace(b.getInt(at + 4 * i));
                }
            }
            if (layout.holds(XsaveLayout.BNDCSR, xsave.length) && (bv & (3L << XsaveLayout.BNDREGS)) != 0) {
                int regs = layout.offset(XsaveLayout.BNDREGS), csr = layout.offset(XsaveLayout.BNDCSR);
                for (int i = 0; i < 8; i++) {
                    x.addBndregState(b.getLong(regs + 8 * i));
                }
                for (int i = 0; i < 2; i++) {
                    x.addBndcsrState(b.getLong(csr + 8 * i));
                }
            }
            if (layout.holds(XsaveLayout.OPMASK, xsave.length) && layout.holds(XsaveLayout.ZMM_HI256, xsave.length)
                    && layout.holds(XsaveLayout.HI16_ZMM, xsave.length)) {
                int k = layout.offset(XsaveLayout.OPMASK), hi256 = layout.offset(XsaveLayout.ZMM_HI256),
                        hi16 = layout.offset(XsaveLayout.HI16_ZMM);
                for (int i = 0; i < 8; i++) {
                    x.addOpmaskReg(b.getLong(k + 8 * i));
                }
                for (int i = 0; i < 64; i++) {
                    x.addZmmUpper(b.getLong(hi256 + 8 * i));
                }
                for (int i = 0; i < 128; i++) {
                    x.addHi16Zmm(b.getLong(hi16 + 8 * i));
                }
            }
            if (layout.holds(XsaveLayout.PKRU, xsave.length)) {
                x.addPkru(b.getInt(layout.offset(XsaveLayout.PKRU)));
            }
            e.setXsave(x);
        }
        return e.build();
    }

    /** Overlays the image's state on a template xsave area of this kernel (the new task's own) and returns it. */
    public static byte[] fromImage(user_x86_fpregs_entry e, byte[] template) throws CryoException {
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
            XsaveLayout layout = XsaveLayout.of(template);
            long enabled = XsaveLayout.xcr0(template);
            long bv = x.getXstateBv() & (enabled == 0 ? -1L : enabled);
            b.putLong(XSTATE_BV, bv);
            b.putLong(XSTATE_BV + 8, 0); // standard format
            put32(b, out, layout, XsaveLayout.YMM, x.getYmmhSpaceList());
            put64(b, out, layout, XsaveLayout.BNDREGS, x.getBndregStateList());
            put64(b, out, layout, XsaveLayout.BNDCSR, x.getBndcsrStateList());
            put64(b, out, layout, XsaveLayout.OPMASK, x.getOpmaskRegList());
            put64(b, out, layout, XsaveLayout.ZMM_HI256, x.getZmmUpperList());
            put64(b, out, layout, XsaveLayout.HI16_ZMM, x.getHi16ZmmList());
            put32(b, out, layout, XsaveLayout.PKRU, x.getPkruList());
        }
        return out;
    }

    /** The image's words of component {@code c}, where this CPU keeps it (none when it has no such component). */
    private static void put32(ByteBuffer b, byte[] out, XsaveLayout layout, int c, List<Integer> words) {
        if (words.isEmpty() || !layout.holds(c, out.length)) {
            return;
        }
        int at = layout.offset(c), room = XsaveLayout.SIZES[c] / 4;
        for (int i = 0; i < words.size() && i < room; i++) {
            b.putInt(at + 4 * i, words.get(i));
        }
    }

    private static void put64(ByteBuffer b, byte[] out, XsaveLayout layout, int c, List<Long> words) {
        if (words.isEmpty() || !layout.holds(c, out.length)) {
            return;
        }
        int at = layout.offset(c), room = XsaveLayout.SIZES[c] / 8;
        for (int i = 0; i < words.size() && i < room; i++) {
            b.putLong(at + 8 * i, words.get(i));
        }
    }
}
