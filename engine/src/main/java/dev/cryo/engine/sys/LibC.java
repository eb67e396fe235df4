package dev.cryo.engine.sys;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;

/**
 * The native boundary: the few libc entry points the engine calls through JNR-FFI.
 * Nothing outside {@code dev.cryo.engine.sys} should see a raw pointer or an errno.
 */
public interface LibC {
    LibC INSTANCE = LibraryLoader.create(LibC.class).load("c");
    Runtime RUNTIME = Runtime.getRuntime(INSTANCE);

    /** Raw syscall with up to six integer arguments (x86_64 passes all of them in registers). */
    @SaveError
    long syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    @SaveError
    long ptrace(long request, int pid, long addr, long data);

    @SaveError
    long ptrace(long request, int pid, long addr, Pointer data);

    @SaveError
    int waitpid(int pid, @Out int[] status, int options);

    /** Starts a program without the JDK's process reaper knowing about it. */
    int posix_spawn(@Out int[] pid, String path, Pointer fileActions, Pointer attr, String[] argv, String[] envp);

    static int errno() {
        return RUNTIME.getLastError();
    }
}
