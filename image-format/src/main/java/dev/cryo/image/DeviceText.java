package dev.cryo.image;

/**
 * Device numbers in fields marked {@code (cryo).dev}, rendered "major:minor". The kernel's encoding keeps a
 * 20-bit minor; fields also marked {@code odev} use glibc's makedev layout.
 */
final class DeviceText {
    private static final int MINOR_BITS = 20;

    private DeviceText() {
    }

    static String render(long dev, boolean odev) {
        if (odev) {
            long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL & 0xffff_ffffL);
            long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL & 0xffff_ffffL);
            return major + ":" + minor;
        }
        return (dev >>> MINOR_BITS) + ":" + (dev & ((1 << MINOR_BITS) - 1));
    }

    /** Inverse of {@link #render}; the caller range-checks the result against the field type. */
    static java.math.BigInteger parse(String text, boolean odev) {
        String[] parts = text.split(":", -1);
        if (parts.length != 2) {
            throw new IllegalArgumentException("device number '" + text + "' is not major:minor");
        }
        java.math.BigInteger major = IntText.parse(parts[0]);
        java.math.BigInteger minor = IntText.parse(parts[1]);
        if (major.bitLength() > 32 || minor.bitLength() > 32 || major.signum() < 0 || minor.signum() < 0) {
            throw new IllegalArgumentException("device number '" + text + "' out of range");
        }
        java.math.BigInteger lowMajor = java.math.BigInteger.valueOf(0xfff);
        java.math.BigInteger lowMinor = java.math.BigInteger.valueOf(0xff);
        if (odev) {
            return major.and(lowMajor).shiftLeft(8)
                    .or(major.andNot(lowMajor).shiftLeft(32))
                    .or(minor.and(lowMinor))
                    .or(minor.andNot(lowMinor).shiftLeft(12));
        }
        return major.shiftLeft(MINOR_BITS).or(minor);
    }
}
