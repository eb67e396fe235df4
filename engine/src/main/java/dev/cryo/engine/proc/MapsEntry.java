package dev.cryo.engine.proc;

import java.util.Set;

/**
 * One line of /proc/PID/smaps: a VMA with its protection, sharing, backing file and VmFlags.
 *
 * @param path the backing file or pseudo name ([heap], [stack], [vdso]); empty for anonymous memory
 */
public record MapsEntry(long start, long end, boolean read, boolean write, boolean exec, boolean shared,
                        long offset, int devMajor, int devMinor, long inode, String path, Set<String> vmFlags) {
    public long length() {
        return end - start;
    }

    public int pages() {
        return (int) ((end - start) >>> 12);
    }

    public int prot() {
        return (read ? 1 : 0) | (write ? 2 : 0) | (exec ? 4 : 0);
    }

    public boolean fileBacked() {
        return inode != 0 && path.startsWith("/");
    }

    public boolean isVdso() {
        return path.equals("[vdso]");
    }

    public boolean isVvar() {
        return path.startsWith("[vvar");
    }

    public boolean isVsyscall() {
        return path.equals("[vsyscall]");
    }

    /** A kernel AIO context's ring ({@code io_setup}): a shared mapping of the kernel's "/[aio]" file. */
    public boolean isAioRing() {
        return shared && (path.equals("/[aio]") || path.equals("/[aio] (deleted)"));
    }

    public boolean isKernelSpecial() {
        return isVdso() || isVvar() || isVsyscall();
    }

    public boolean growsDown() {
        return vmFlags.contains("gd");
    }

    @Override
    public String toString() {
        return String.format("%x-%x %c%c%c%c %08x %s", start, end, read ? 'r' : '-', write ? 'w' : '-',
                exec ? 'x' : '-', shared ? 's' : 'p', offset, path);
    }
}
