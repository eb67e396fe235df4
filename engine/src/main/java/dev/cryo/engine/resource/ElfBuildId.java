package dev.cryo.engine.resource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.List;

/**
 * The GNU build-id of an ELF file (the {@code NT_GNU_BUILD_ID} note that linkers write, 20 bytes of SHA-1 by
 * default), which CRIU's {@code --file-validation buildid} (its default) records for each regular file and checks on
 * restore: a program or library rebuilt or upgraded in place to the same size is another file all the same, and the
 * restored task's code pages would come from it.
 *
 * <p>Read from the program headers' {@code PT_NOTE} segments, little-endian ELF32 or ELF64 as this machine runs.
 * {@code reg_file_entry.build_id} holds four bytes a field, as CRIU writes it (see {@link #fields}).
 */
public final class ElfBuildId {
    private static final int PT_NOTE = 4, NT_GNU_BUILD_ID = 3, MAX_NOTES = 1 << 16, MAX_HEADERS = 512;
    private static final byte[] MAGIC = {0x7f, 'E', 'L', 'F'};

    private ElfBuildId() {
    }

    /** The build-id of the file at {@code path}, or null: not ELF, no such note, or not readable. */
    public static byte[] of(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ByteBuffer h = read(ch, 0, 64);
            if (h == null || h.get(0) != MAGIC[0] || h.get(1) != MAGIC[1] || h.get(2) != MAGIC[2] || h.get(3) != MAGIC[3]
                    || h.get(5) != 1 /* ELFDATA2LSB */) {
                return null;
            }
            boolean wide = h.get(4) == 2; // ELFCLASS64
            long phoff = wide ? h.getLong(32) : Integer.toUnsignedLong(h.getInt(28));
            int phentsize = Short.toUnsignedInt(h.getShort(wide ? 54 : 42));
            int phnum = Short.toUnsignedInt(h.getShort(wide ? 56 : 44));
            if (phnum == 0 || phnum > MAX_HEADERS || phentsize < (wide ? 56 : 32)) {
                return null;
            }
            ByteBuffer ph = read(ch, phoff, phentsize * phnum);
            if (ph == null) {
                return null;
            }
            for (int i = 0; i < phnum; i++) {
                int at = i * phentsize;
                if (ph.getInt(at) != PT_NOTE) {
                    continue;
                }
                long off = wide ? ph.getLong(at + 8) : Integer.toUnsignedLong(ph.getInt(at + 4));
                long size = wide ? ph.getLong(at + 32) : Integer.toUnsignedLong(ph.getInt(at + 16));
                if (size <= 0 || size > MAX_NOTES) {
                    continue;
                }
                ByteBuffer notes = read(ch, off, (int) size);
                byte[] id = notes == null ? null : buildIdNote(notes);
                if (id != null) {
                    return id;
                }
            }
            return null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The desc of the "GNU" note of type NT_GNU_BUILD_ID in a PT_NOTE segment, or null. */
    private static byte[] buildIdNote(ByteBuffer n) {
        int at = 0;
        while (at + 12 <= n.limit()) {
            int namesz = n.getInt(at), descsz = n.getInt(at + 4), type = n.getInt(at + 8);
            if (namesz < 0 || descsz < 0) {
                return null;
            }
            int name = at + 12, desc = name + align4(namesz);
            if (desc + (long) descsz > n.limit()) {
                return null;
            }
            if (type == NT_GNU_BUILD_ID && namesz == 4 && n.get(name) == 'G' && n.get(name + 1) == 'N'
                    && n.get(name + 2) == 'U' && n.get(name + 3) == 0 && descsz > 0) {
                byte[] id = new byte[descsz];
                n.get(desc, id);
                return id;
            }
            at = desc + align4(descsz);
        }
        return null;
    }

    private static int align4(int n) {
        return (n + 3) & ~3;
    }

    private static ByteBuffer read(FileChannel ch, long off, int len) throws IOException {
        if (off < 0 || len <= 0) {
            return null;
        }
        ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, off + b.position()) < 0) {
                return null;
            }
        }
        return b.clear();
    }

    /**
     * As {@code reg_file_entry.build_id} holds it, as CRIU writes it: the bytes four to a field, each field a
     * little-endian 32-bit word (a 20-byte SHA-1 build-id is 5 fields); a last word short of four bytes is padded with
     * zeros.
     */
    public static List<Integer> fields(byte[] id) {
        List<Integer> out = new java.util.ArrayList<>((id.length + 3) / 4);
        for (int i = 0; i < id.length; i += 4) {
            int word = 0;
            for (int j = 0; j < 4 && i + j < id.length; j++) {
                word |= Byte.toUnsignedInt(id[i + j]) << (8 * j);
            }
            out.add(word);
        }
        return out;
    }

    /** The fields of {@code reg_file_entry.build_id} in hex, as {@code file} prints a build-id. */
    public static String hex(List<Integer> fields) {
        ByteBuffer b = ByteBuffer.allocate(4 * fields.size()).order(ByteOrder.LITTLE_ENDIAN);
        fields.forEach(b::putInt);
        return HexFormat.of().formatHex(b.array());
    }
}
