package dev.cryo.engine.sys;

/**
 * A libc function called through jffi's six-long entry: for the few calls that are not syscalls (posix_spawn and
 * its attribute setters), without binding JNR's proxy. Arguments are integers or addresses; the result is the
 * function's own (posix_spawn returns an error number, it does not set errno).
 */
public final class NativeFunction {
    private static final com.kenai.jffi.CallContext SIX_LONGS;

    static {
        com.kenai.jffi.Type l = com.kenai.jffi.Type.SINT64;
        SIX_LONGS = com.kenai.jffi.CallContext.getCallContext(l, new com.kenai.jffi.Type[]{l, l, l, l, l, l},
                com.kenai.jffi.CallingConvention.DEFAULT, false);
    }

    private final String name;
    private final long address;

    private NativeFunction(String name, long address) {
        this.name = name;
        this.address = address;
    }

    /** The function {@code name} of the C library the JVM runs on. */
    public static NativeFunction libc(String name) {
        long address = com.kenai.jffi.Library.getDefault().getSymbolAddress(name);
        if (address == 0) {
            throw new UnsatisfiedLinkError("no " + name + " in the C library");
        }
        return new NativeFunction(name, address);
    }

    public String name() {
        return name;
    }

    /** Calls with up to six arguments (unused ones are passed as 0, which C ignores). */
    public long call(long a, long b, long c, long d, long e, long f) {
        return com.kenai.jffi.Invoker.getInstance().invokeN6(SIX_LONGS, address, a, b, c, d, e, f);
    }

    public long call(long a, long b, long c) {
        return call(a, b, c, 0, 0, 0);
    }

    public long call(long a, long b) {
        return call(a, b, 0, 0, 0, 0);
    }

    public long call(long a) {
        return call(a, 0, 0, 0, 0, 0);
    }
}
