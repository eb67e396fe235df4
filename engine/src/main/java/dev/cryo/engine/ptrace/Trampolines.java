package dev.cryo.engine.ptrace;

import dev.cryo.engine.mem.RemoteMemory;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.sys.SyscallException;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The two pieces of a task's own code a {@link SigreturnFrame} needs, found by their bytes, never written: a
 * {@code syscall; ret} (0f 05 c3) to run each remote call from, and an rt_sigreturn trampoline ({@code mov $15, %rax;
 * syscall}, as the C libraries' {@code __restore_rt}) for it to return into. glibc's libc has both; the vDSO has
 * neither. Read-only executable file mappings are searched, the C library's first.
 *
 * @param gadget   address of a {@code syscall; ret}
 * @param restorer address of an rt_sigreturn trampoline
 */
public record Trampolines(long gadget, long restorer) {
    static final byte[] SYSCALL_RET = {0x0f, 0x05, (byte) 0xc3};
    static final byte[][] RESTORERS = {
            {0x48, (byte) 0xc7, (byte) 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05}, // mov $15, %rax; syscall (glibc, musl)
            {(byte) 0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05}}; // mov $15, %eax; syscall
    /** How much code one task's search reads at most (a JVM maps tens of MiB of it; libc comes first). */
    static final long BUDGET = 64L << 20;
    private static final int CHUNK = 256 << 10;

    /** Offsets found in a mapping, by file and place in it: a tree's tasks map the same C library. */
    private static final Map<String, long[]> FOUND = new ConcurrentHashMap<>();

    /** The task's trampolines, or null when its code has no pair (it then gets remote calls without a frame). */
    public static Trampolines find(RemoteMemory memory, List<MapsEntry> maps) {
        List<MapsEntry> code = new ArrayList<>();
        for (MapsEntry m : maps) {
            if (m.exec() && m.read() && !m.write() && m.fileBacked()) {
                code.add(m);
            }
        }
        code.sort(Comparator.comparingInt(m -> cLibrary(m.path()) ? 0 : 1));
        long gadget = -1, restorer = -1, budget = BUDGET;
        for (MapsEntry m : code) {
            if (m.length() > budget) {
                continue;
            }
            long[] at = FOUND.get(key(m));
            if (at == null) {
                at = search(memory, m);
                budget -= m.length();
                if (at == null) {
                    continue;
                }
                FOUND.put(key(m), at);
            }
            if (gadget < 0 && at[0] >= 0) {
                gadget = m.start() + at[0];
            }
            if (restorer < 0 && at[1] >= 0) {
                restorer = m.start() + at[1];
            }
            if (gadget >= 0 && restorer >= 0) {
                return new Trampolines(gadget, restorer);
            }
        }
        return null;
    }

    static boolean cLibrary(String path) {
        String name = path.substring(path.lastIndexOf('/') + 1);
        return name.startsWith("libc.so") || name.startsWith("libc-") || name.startsWith("ld-musl")
                || name.startsWith("libc.musl");
    }

    private static String key(MapsEntry m) {
        return m.devMajor() + ":" + m.devMinor() + ":" + m.inode() + ":" + m.offset() + ":" + m.length();
    }

    /** {gadget offset, restorer offset} in the mapping, -1 for one not there; null when it cannot be read. */
    private static long[] search(RemoteMemory memory, MapsEntry m) {
        long[] at = {-1, -1};
        int overlap = 16;
        try {
            for (long from = 0; from < m.length() && (at[0] < 0 || at[1] < 0); from += CHUNK - overlap) {
                int len = (int) Math.min(CHUNK, m.length() - from);
                byte[] b = memory.read(m.start() + from, len);
                if (at[0] < 0) {
                    int i = indexOf(b, SYSCALL_RET);
                    at[0] = i < 0 ? -1 : from + i;
                }
                for (byte[] r : RESTORERS) {
                    int i = at[1] < 0 ? indexOf(b, r) : -1;
                    if (i >= 0) {
                        at[1] = from + i;
                    }
                }
                if (from + len >= m.length()) {
                    break;
                }
            }
        } catch (SyscallException e) {
            return null;
        }
        return at;
    }

    static int indexOf(byte[] b, byte[] pattern) {
        outer:
        for (int i = 0; i + pattern.length <= b.length; i++) {
            if (b[i] != pattern[0]) {
                continue;
            }
            for (int k = 1; k < pattern.length; k++) {
                if (b[i + k] != pattern[k]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
