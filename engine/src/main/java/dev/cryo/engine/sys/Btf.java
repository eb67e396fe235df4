package dev.cryo.engine.sys;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The kernel's own type information (BTF, {@code /sys/kernel/btf/vmlinux}), read as far as a BPF program of Cryo's
 * needs it: where a member of a kernel struct lies and how wide it is, and the id of a kernel function a program
 * attaches to. The layout is the kernel's documented BTF format: a header, the types (a 12-byte common part and a
 * kind's extra data), then the strings.
 */
public final class Btf {
    public static final Path VMLINUX = Path.of("/sys/kernel/btf/vmlinux");

    static final int MAGIC = 0xeb9f;
    static final int INT = 1, PTR = 2, ARRAY = 3, STRUCT = 4, UNION = 5, ENUM = 6, FWD = 7, TYPEDEF = 8,
            VOLATILE = 9, CONST = 10, RESTRICT = 11, FUNC = 12, FUNC_PROTO = 13, VAR = 14, DATASEC = 15, FLOAT = 16,
            DECL_TAG = 17, TYPE_TAG = 18, ENUM64 = 19;

    private final ByteBuffer types;
    private final ByteBuffer strings;
    /** Per type id (0 is void): where its common part starts in {@link #types}. */
    private final int[] at;

    private Btf(ByteBuffer types, ByteBuffer strings, int[] at) {
        this.types = types;
        this.strings = strings;
        this.at = at;
    }

    /** The running kernel's BTF. */
    public static Btf vmlinux() throws IOException {
        return parse(Files.readAllBytes(VMLINUX));
    }

    public static Btf parse(byte[] raw) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        if (raw.length < 24 || (b.getShort(0) & 0xffff) != MAGIC) {
            throw new IOException("not BTF (magic " + (raw.length < 2 ? "missing" : Integer.toHexString(b.getShort(0) & 0xffff)) + ")");
        }
        int hdrLen = b.getInt(4), typeOff = b.getInt(8), typeLen = b.getInt(12), strOff = b.getInt(16),
                strLen = b.getInt(20);
        ByteBuffer types = slice(b, hdrLen + typeOff, typeLen);
        ByteBuffer strings = slice(b, hdrLen + strOff, strLen);
        int[] at = new int[1024];
        int n = 1;
        for (int pos = 0; pos < typeLen; ) {
            if (n == at.length) {
                at = java.util.Arrays.copyOf(at, n * 2);
            }
            at[n++] = pos;
            int info = types.getInt(pos + 4);
            pos += 12 + extra(kind(info), vlen(info));
        }
        return new Btf(types, strings, java.util.Arrays.copyOf(at, n));
    }

    private static ByteBuffer slice(ByteBuffer b, int off, int len) throws IOException {
        if (off < 0 || len < 0 || off + len > b.capacity()) {
            throw new IOException("BTF section out of bounds");
        }
        return b.slice(off, len).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static int kind(int info) {
        return (info >>> 24) & 0x1f;
    }

    private static int vlen(int info) {
        return info & 0xffff;
    }

    private static int extra(int kind, int vlen) throws IOException {
        return switch (kind) {
            case INT, VAR, DECL_TAG -> 4;
            case ARRAY -> 12;
            case STRUCT, UNION, DATASEC, ENUM64 -> 12 * vlen;
            case ENUM, FUNC_PROTO -> 8 * vlen;
            case PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG -> 0;
            default -> throw new IOException("BTF kind " + kind + " unknown");
        };
    }

    private int info(int id) {
        return types.getInt(at[id] + 4);
    }

    private String name(int id) {
        return string(types.getInt(at[id]));
    }

    private String string(int off) {
        int end = off;
        while (end < strings.capacity() && strings.get(end) != 0) {
            end++;
        }
        byte[] s = new byte[end - off];
        strings.get(off, s);
        return new String(s, StandardCharsets.UTF_8);
    }

    /** {@link #find}'s answers: a program's members all lie in one struct, which one scan of the types finds. */
    private final java.util.Map<String, Integer> found = new java.util.HashMap<>();

    /** The id of the first type of {@code kind} named {@code name}, or -1. */
    int find(int kind, String name) {
        return found.computeIfAbsent(kind + " " + name, k -> scan(kind, name));
    }

    private int scan(int kind, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        for (int id = 1; id < at.length; id++) {
            if (kind(info(id)) == kind && matches(types.getInt(at[id]), n)) {
                return id;
            }
        }
        return -1;
    }

    /** The id of kernel function {@code name} (a BTF FUNC), or -1. */
    public int function(String name) {
        return find(FUNC, name);
    }

    /**
     * Where a member lies in its struct and how many bytes a load of it takes; for a bit field, the byte that holds
     * it (a load of 1 byte) and its lowest bit and width there ({@code bits} 0 for any other member).
     */
    public record Member(String path, int offset, int size, int bit, int bits) {
        /** The member's value out of what a load of it gave. */
        public long of(long loaded) {
            return bits == 0 ? loaded : (loaded >>> bit) & ((1L << bits) - 1);
        }
    }

    /**
     * Member {@code path} of struct {@code struct}: a name, or names joined by dots through members that are structs
     * themselves ({@code "seccomp.mode"}), each looked for through the unnamed members too (the kernel nests many in
     * anonymous unions).
     *
     * @throws IOException when the struct or a member is not there, or the last is not a scalar or pointer of 1, 2,
     *                     4 or 8 bytes (or a byte or word array of 8's), or a bit field across a byte boundary
     */
    public Member member(String struct, String path) throws IOException {
        int id = find(STRUCT, struct);
        if (id < 0) {
            throw new IOException("struct " + struct + " not in the kernel's BTF");
        }
        long bitOffset = 0;
        Found f = null;
        for (String name : path.split("\\.")) {
            if (f != null) {
                id = resolve(f.type);
                int k = kind(info(id));
                if (f.bits != 0 || k != STRUCT && k != UNION) {
                    throw new IOException("member " + f.name + " of struct " + struct + " is not a struct");
                }
            }
            f = member(id, name.getBytes(StandardCharsets.UTF_8), 0);
            if (f == null) {
                throw new IOException("struct " + struct + " has no member " + path + " in the kernel's BTF");
            }
            bitOffset += f.bitOffset;
        }
        String full = struct + "." + path;
        if (f.bits == 0) {
            if (bitOffset % 8 != 0) {
                throw new IOException(full + " is not at a byte boundary");
            }
            return new Member(full, (int) (bitOffset / 8), scalarSize(f.type), 0, 0);
        }
        int bit = (int) (bitOffset % 8);
        if (bit + f.bits > 8) {
            throw new IOException(full + " is a bit field across a byte boundary");
        }
        return new Member(full, (int) (bitOffset / 8), 1, bit, f.bits);
    }

    /** A member found: its bit offset in the struct searched, its width when a bit field (else 0), its type. */
    private record Found(String name, long bitOffset, int bits, int type) {
    }

    private Found member(int id, byte[] name, long base) throws IOException {
        int info = info(id);
        boolean bitfields = (info >>> 31) != 0;
        int m = at[id] + 12;
        for (int i = 0; i < vlen(info); i++, m += 12) {
            int nameOff = types.getInt(m), type = types.getInt(m + 4), offset = types.getInt(m + 8);
            long bits = bitfields ? offset & 0xffffff : offset & 0xffffffffL;
            int width = bitfields ? offset >>> 24 : 0;
            if (nameOff == 0) {
                int inner = resolve(type);
                int k = kind(info(inner));
                if (width == 0 && (k == STRUCT || k == UNION)) {
                    Found found = member(inner, name, base + bits);
                    if (found != null) {
                        return found;
                    }
                }
            } else if (matches(nameOff, name)) {
                return new Found(string(nameOff), base + bits, width, type);
            }
        }
        return null;
    }

    private boolean matches(int off, byte[] name) {
        if (off + name.length >= strings.capacity()) {
            return false;
        }
        for (int i = 0; i < name.length; i++) {
            if (strings.get(off + i) != name[i]) {
                return false;
            }
        }
        return strings.get(off + name.length) == 0;
    }

    /** Through typedefs and qualifiers to the type they name. */
    private int resolve(int id) {
        for (int hops = 0; hops < 64 && id > 0 && id < at.length; hops++) {
            int k = kind(info(id));
            if (k != TYPEDEF && k != VOLATILE && k != CONST && k != RESTRICT && k != TYPE_TAG) {
                return id;
            }
            id = types.getInt(at[id] + 8);
        }
        return id;
    }

    /**
     * The bytes a load of a member of {@code type} takes: 1, 2, 4 or 8 for a scalar or pointer; for an array of
     * bytes whose size is a multiple of 8 (a name such as task_struct.comm), or of 8-byte words (a sigset_t's
     * {@code sig}), its size up to 64, loaded 8 bytes at a time.
     */
    private int scalarSize(int type) throws IOException {
        int id = resolve(type);
        int k = id <= 0 || id >= at.length ? -1 : kind(info(id));
        int size = switch (k) {
            case PTR -> 8;
            case INT, ENUM, ENUM64 -> types.getInt(at[id] + 8);
            case ARRAY -> {
                int elem = resolve(types.getInt(at[id] + 12)), n = types.getInt(at[id] + 20);
                int each = kind(info(elem)) == INT ? types.getInt(at[elem] + 8) : 0;
                // bytes (a name), or words (a signal set's unsigned longs)
                yield (each == 1 || each == 8) && n > 0 && n * each % 8 == 0 && n * each <= 64 ? n * each : -1;
            }
            default -> -1;
        };
        if (size != 1 && size != 2 && size != 4 && (size <= 0 || size % 8 != 0)) {
            throw new IOException("member of type " + (k < 0 ? "?" : name(id) + " (kind " + k + ")")
                    + " is not a scalar a program can load");
        }
        return size;
    }
}
