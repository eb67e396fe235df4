package dev.cryo.image;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Bit-flag names crit uses for fields marked {@code (cryo).flags} (crit's pb2dict flags_maps), rendered as
 * {@code "PROT_READ | PROT_EXEC"}; bits without a name are appended as one hex number.
 */
final class FlagTable {
    private static final Map<String, FlagTable> TABLES = new LinkedHashMap<>();

    static {
        table("mmap.prot", "PROT_READ", 0x1, "PROT_WRITE", 0x2, "PROT_EXEC", 0x4);
        table("mmap.flags", "MAP_SHARED", 0x1, "MAP_PRIVATE", 0x2, "MAP_ANON", 0x20, "MAP_GROWSDOWN", 0x100);
        table("mmap.status", "VMA_AREA_NONE", 0, "VMA_AREA_REGULAR", 1, "VMA_AREA_STACK", 1 << 1,
                "VMA_AREA_VSYSCALL", 1 << 2, "VMA_AREA_VDSO", 1 << 3, "VMA_AREA_HEAP", 1 << 5,
                "VMA_FILE_PRIVATE", 1 << 6, "VMA_FILE_SHARED", 1 << 7, "VMA_ANON_SHARED", 1 << 8,
                "VMA_ANON_PRIVATE", 1 << 9, "VMA_AREA_SYSVIPC", 1 << 10, "VMA_AREA_SOCKET", 1 << 11,
                "VMA_AREA_VVAR", 1 << 12, "VMA_AREA_AIORING", 1 << 13, "VMA_UNSUPP", 1L << 31);
        table("rfile.flags", "O_WRONLY", 01, "O_RDWR", 02, "O_CREAT", 0100, "O_EXCL", 0200, "O_NOCTTY", 0400,
                "O_TRUNC", 01000, "O_APPEND", 02000, "O_NONBLOCK", 04000, "O_DSYNC", 010000, "FASYNC", 020000,
                "O_DIRECT", 040000, "O_LARGEFILE", 0100000, "O_DIRECTORY", 0200000, "O_NOFOLLOW", 0400000,
                "O_NOATIME", 01000000, "O_CLOEXEC", 02000000);
        table("pmap.flags", "PE_PARENT", 1, "PE_LAZY", 1 << 1, "PE_PRESENT", 1 << 2);
        table("seals.flags", "F_SEAL_SEAL", 0x1, "F_SEAL_SHRINK", 0x2, "F_SEAL_GROW", 0x4, "F_SEAL_WRITE", 0x8,
                "F_SEAL_FUTURE_WRITE", 0x10);
    }

    private final Map<String, Long> bits = new LinkedHashMap<>();

    private static void table(String name, Object... pairs) {
        FlagTable t = new FlagTable();
        for (int i = 0; i < pairs.length; i += 2) {
            t.bits.put((String) pairs[i], ((Number) pairs[i + 1]).longValue());
        }
        TABLES.put(name, t);
    }

    static Optional<FlagTable> named(String name) {
        return Optional.ofNullable(TABLES.get(name));
    }

    /** crit's map_flags: names of set bits in table order, then leftover bits as "0x..", joined by " | ". */
    String render(java.math.BigInteger value) {
        StringBuilder b = new StringBuilder();
        java.math.BigInteger known = java.math.BigInteger.ZERO;
        for (Map.Entry<String, Long> e : bits.entrySet()) {
            java.math.BigInteger bit = java.math.BigInteger.valueOf(e.getValue());
            known = known.add(bit);
            if (value.and(bit).signum() != 0) {
                sep(b).append(e.getKey());
            }
        }
        // Python: value &= ~sum(all bits); works on negative numbers with infinite two's complement.
        java.math.BigInteger rest = value.and(known.not());
        if (rest.signum() != 0) {
            sep(b).append(IntText.hex(rest));
        }
        return b.toString();
    }

    private static StringBuilder sep(StringBuilder b) {
        return b.length() == 0 ? b : b.append(" | ");
    }

    /** crit's unmap_flags: sum of named bits and integer literals separated by '|'; "" is 0. */
    java.math.BigInteger parse(String text) throws NumberFormatException {
        if (text.isEmpty()) {
            return java.math.BigInteger.ZERO;
        }
        java.math.BigInteger sum = java.math.BigInteger.ZERO;
        for (String part : text.split("\\|", -1)) {
            String p = IntText.strip(part);
            Long bit = bits.get(p);
            sum = sum.add(bit != null ? java.math.BigInteger.valueOf(bit) : IntText.parse(p));
        }
        return sum;
    }
}
