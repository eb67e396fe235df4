package dev.cryo.engine.sys.probe;

import jnr.ffi.Pointer;

import static dev.cryo.engine.sys.probe.ProbeCalls.*;

/**
 * Whether {@code prctl(PR_SET_MM, PR_SET_MM_MAP)} is there to set brk, stack, arg/env, auxv and exe of a
 * restored process in one call; asking its struct size changes nothing.
 */
public final class PrctlMmMap {
    private static final int PR_SET_MM = 35, PR_SET_MM_MAP_SIZE = 15;

    private PrctlMmMap() {
    }

    public static Finding probe() {
        Pointer size = memory(4);
        long r = sys(PRCTL, PR_SET_MM, PR_SET_MM_MAP_SIZE, size.address(), 0, 0);
        if (r < 0) {
            return Finding.no("prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE) failed: " + errno(r)
                    + (r == -EINVAL ? " (kernel without CONFIG_CHECKPOINT_RESTORE)" : ""));
        }
        return Finding.yes("PR_SET_MM_MAP is available (struct prctl_mm_map is " + size.getInt(0) + " bytes)");
    }
}
