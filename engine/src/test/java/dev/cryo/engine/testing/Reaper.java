package dev.cryo.engine.testing;

import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.Out;

/** Reaps a child of the test JVM that the JDK does not know about (a restored process). */
public final class Reaper {
    public interface C {
        int waitpid(int pid, @Out int[] status, int options);
    }

    private static final C C_LIB = LibraryLoader.create(C.class).load("c");

    private Reaper() {
    }

    /** Reaps {@code pid} (after it was killed) if it is a child of this JVM; returns its raw status or -1. */
    public static int reap(int pid) {
        int[] st = new int[1];
        int r = C_LIB.waitpid(pid, st, 0x40000000);
        return r == pid ? st[0] : -1;
    }
}
