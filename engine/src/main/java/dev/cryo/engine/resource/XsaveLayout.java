package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Where this CPU's xsave area, in the standard format that PTRACE_GETREGSET NT_X86_XSTATE hands out, puts each
 * user component. The format leaves the offsets to the CPU (CPUID leaf 0xD, sub-leaf N, EBX), and CPUs differ:
 * Intel keeps the AVX-512 parts at 1088/1152/1664 after the MPX ones, AMD's Zen 4 and 5 have no MPX and put them
 * at 832/896/1408. Reading them at the wrong place loses the opmask registers, the upper halves of zmm0-15 and
 * all of zmm16-31 (glibc's string functions keep data there), so the layout is asked for, never assumed.
 *
 * <p>The answer comes from /dev/cpu/0/cpuid (the kernel's CPUID device) when it can be read. Without it (a
 * container without host devices) the layout is told from the area itself: its length is the end of the last
 * component XCR0 enables, and of the layouts CPUs are known to use exactly one must end there with every enabled
 * component in it. When none or two different ones fit, Cryo refuses rather than guess.
 *
 * @param offsets offset of component N at [N], -1 for none
 * @param source  where the offsets came from, for the log
 */
public record XsaveLayout(int[] offsets, String source) {
    /** Component numbers (bits of XCR0) and their architectural sizes in bytes. */
    public static final int YMM = 2, BNDREGS = 3, BNDCSR = 4, OPMASK = 5, ZMM_HI256 = 6, HI16_ZMM = 7, PKRU = 9;
    static final int[] SIZES = sizes();

    /** Intel's offsets (CPUID on every Intel CPU with these components). */
    static final int[] INTEL = offsets(YMM, 576, BNDREGS, 960, BNDCSR, 1024, OPMASK, 1088, ZMM_HI256, 1152,
            HI16_ZMM, 1664, PKRU, 2688, 17, 2752, 18, 2816);
    /** AMD's offsets (Zen 4, Zen 5: no MPX, the AVX-512 parts right after AVX). */
    static final int[] AMD = offsets(YMM, 576, OPMASK, 832, ZMM_HI256, 896, HI16_ZMM, 1408, PKRU, 2432);

    /** The components Cryo saves and restores (CRIU's user_x86_xsave_entry has no place for others). */
    static final long KNOWN = (1L << YMM) | (1L << BNDREGS) | (1L << BNDCSR) | (1L << OPMASK) | (1L << ZMM_HI256)
            | (1L << HI16_ZMM) | (1L << PKRU);

    private static volatile XsaveLayout fromCpuid;
    private static volatile boolean cpuidTried;

    /** The layout of an area this kernel handed out (ptrace's XCR0 at byte 464, its length the area's). */
    public static XsaveLayout of(byte[] xsave) throws CryoException {
        XsaveLayout cpu = cpuid();
        if (cpu != null) {
            return cpu;
        }
        return inferred(xcr0(xsave), xsave.length);
    }

    /** XCR0 as ptrace puts it in the software-reserved bytes (464..471); 0 when the area has none. */
    static long xcr0(byte[] xsave) {
        if (xsave.length < 472) {
            return 0;
        }
        long v = ByteBuffer.wrap(xsave).order(ByteOrder.LITTLE_ENDIAN).getLong(464);
        return (v & 0b11) == 0b11 ? v : 0; // x87 and SSE are always enabled
    }

    /** The one known layout that ends at {@code length} holding every component of {@code xcr0}. */
    static XsaveLayout inferred(long xcr0, int length) throws CryoException {
        if (length <= 576 || (xcr0 & ~0b11L) == 0) {
            return new XsaveLayout(none(), "legacy area only");
        }
        List<int[]> fit = new ArrayList<>();
        for (int[] candidate : List.of(INTEL, AMD)) {
            int end = 576;
            boolean holds = true;
            for (int c = 2; c < 64; c++) {
                if ((xcr0 & (1L << c)) == 0) {
                    continue;
                }
                if (c >= candidate.length || candidate[c] < 0) {
                    holds = false;
                    break;
                }
                end = Math.max(end, candidate[c] + SIZES[c]);
            }
            if (holds && end == length && fit.stream().noneMatch(f -> sameFor(f, candidate, xcr0))) {
                fit.add(candidate);
            }
        }
        if (fit.size() != 1) {
            throw new CryoException("this CPU's xsave layout is unknown (XCR0 " + Long.toHexString(xcr0)
                    + ", " + length + " bytes) and /dev/cpu/0/cpuid cannot be read to ask: Cryo will not guess where "
                    + "the AVX and AVX-512 registers are; make /dev/cpu/0/cpuid readable (modprobe cpuid, or give the "
                    + "container the device)");
        }
        return new XsaveLayout(fit.get(0), (fit.get(0) == INTEL ? "Intel" : "AMD") + " layout, told from the "
                + length + "-byte area");
    }

    private static boolean sameFor(int[] a, int[] b, long xcr0) {
        for (int c = 2; c < Math.min(a.length, b.length); c++) {
            if ((xcr0 & (1L << c)) != 0 && a[c] != b[c]) {
                return false;
            }
        }
        return true;
    }

    /** CPUID leaf 0xD from the kernel's CPUID device, or null when it cannot be read. */
    static XsaveLayout cpuid() {
        if (cpuidTried) {
            return fromCpuid;
        }
        XsaveLayout found = null;
        try (FileChannel ch = FileChannel.open(Path.of("/dev/cpu/0/cpuid"), StandardOpenOption.READ)) {
            int[] out = none();
            ByteBuffer regs = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            for (int c = 2; c < out.length; c++) {
                regs.clear();
                if (ch.read(regs, ((long) c << 32) | 0xD) != 16) {
                    return null;
                }
                int size = regs.getInt(0), offset = regs.getInt(4), flags = regs.getInt(8);
                if (size != 0 && (flags & 1) == 0) { // bit 0 of ECX: a supervisor component, never in ptrace's area
                    out[c] = offset;
                }
            }
            found = new XsaveLayout(out, "CPUID leaf 0xD");
        } catch (IOException | RuntimeException e) {
            found = null;
        }
        fromCpuid = found;
        cpuidTried = true;
        return found;
    }

    /** Offset of component {@code c} in the area, or -1 when this layout has none. */
    public int offset(int c) {
        return c < offsets.length ? offsets[c] : -1;
    }

    /** Whether component {@code c} lies wholly in an area of {@code length} bytes. */
    public boolean holds(int c, int length) {
        int off = offset(c);
        return off >= 0 && off + SIZES[c] <= length;
    }

    private static int[] none() {
        int[] o = new int[19];
        Arrays.fill(o, -1);
        return o;
    }

    private static int[] offsets(int... pairs) {
        int[] o = none();
        for (int i = 0; i < pairs.length; i += 2) {
            o[pairs[i]] = pairs[i + 1];
        }
        return o;
    }

    private static int[] sizes() {
        int[] s = new int[19];
        s[YMM] = 256;
        s[BNDREGS] = 64;
        s[BNDCSR] = 64;
        s[OPMASK] = 64;
        s[ZMM_HI256] = 512;
        s[HI16_ZMM] = 1024;
        s[PKRU] = 8;
        s[17] = 64; // AMX tile config
        s[18] = 8192; // AMX tile data
        return s;
    }
}
