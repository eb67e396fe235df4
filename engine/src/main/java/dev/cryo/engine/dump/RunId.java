package dev.cryo.engine.dump;

import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;

import java.util.UUID;

/**
 * The inventory's {@code dump_criu_run_id}: a random (version 4) UUID made from getrandom(2). UUID.randomUUID
 * first seeds a SecureRandom, about 10 ms of a cold CLI run, for an id that only has to differ between dumps.
 */
final class RunId {
    static final int GETRANDOM = 318;

    private RunId() {
    }

    static String next() {
        NativeBuffer b = NativeBuffer.allocate(16);
        long n = Syscall.raw(GETRANDOM, b.address(), 16, 0);
        if (n != 16) {
            return UUID.randomUUID().toString();
        }
        long msb = (b.getLong(0) & ~0xf000L) | 0x4000L; // version 4
        long lsb = (b.getLong(8) & 0x3fffffffffffffffL) | 0x8000000000000000L; // the IETF variant
        return new UUID(msb, lsb).toString();
    }
}
