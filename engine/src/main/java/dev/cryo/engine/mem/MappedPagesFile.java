package dev.cryo.engine.mem;

import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A pages image mapped shared into Cryo, its blocks reserved first: process_vm_readv copies a process's pages
 * straight into the page cache through it, one copy where a buffer and write() make two.
 *
 * <p>The file's blocks are reserved (fallocate) before anything is mapped: a page of a shared mapping that the file
 * system cannot back fails on first touch (SIGBUS for a program, EFAULT for a syscall copying into it), so a disk
 * that is full must say so before the copy starts, as write() does. Nothing is synced: as with write(), the pages
 * are the file's once they are in the page cache (CRIU does not sync either).
 */
final class MappedPagesFile implements AutoCloseable {
    private static final int FTRUNCATE = Syscall.FTRUNCATE, O_RDWR = 02, O_CLOEXEC = 02000000, PROT_READ = 1,
            PROT_WRITE = 2, MAP_SHARED = 1;

    private final long address, bytes;
    private final ByteBuffer view;
    private boolean closed;

    private MappedPagesFile(long address, long bytes) {
        this.address = address;
        this.bytes = bytes;
        this.view = com.kenai.jffi.MemoryIO.getInstance().newDirectByteBuffer(address, (int) bytes);
    }

    /** Why a file could not be mapped where writing it would still work (a file system without fallocate or mmap). */
    static final class Unsupported extends Exception {
        Unsupported(String why) {
            super(why, null, false, false);
        }
    }

    /**
     * Reserves {@code bytes} (at least a page, under 2 GiB) in {@code file}, which exists and is empty, and maps them.
     *
     * @throws IOException  the file system has no room (the message says so, as write() would), or opening failed
     * @throws Unsupported  the file system cannot reserve or map it: write it instead
     */
    static MappedPagesFile create(Path file, long bytes) throws IOException, Unsupported {
        int fd = dev.cryo.engine.sys.DirectFiles.open(file.toString(), O_RDWR | O_CLOEXEC, 0);
        try {
            int errno = dev.cryo.engine.sys.DirectFiles.fallocate(fd, bytes);
            String full = dev.cryo.engine.sys.DirectFiles.noRoom(errno);
            if (full != null) {
                // what a file system reserved before it ran out goes back now, not when the failed dump removes it
                Syscall.raw(FTRUNCATE, fd, 0);
                // the same words as a write's error, and how much did not fit
                throw new IOException(full + " (reserving " + (bytes >> 20) + " MiB of pages)");
            }
            if (errno != 0) {
                throw new Unsupported("fallocate: " + SyscallException.describe(errno));
            }
            long at = Syscall.raw(Syscall.MMAP, 0, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (at < 0 && at > -4096) {
                throw new Unsupported("mmap: " + SyscallException.describe((int) -at));
            }
            return new MappedPagesFile(at, bytes);
        } finally {
            Syscall.raw(Syscall.CLOSE, fd); // the mapping holds the file
        }
    }

    long address() {
        return address;
    }

    /** The mapped bytes {@code [offset, offset + length)}, as a buffer from position 0. */
    ByteBuffer view(long offset, int length) {
        return view.duplicate().position((int) offset).limit((int) offset + length).slice();
    }

    /**
     * Unmaps, on a thread of its own: tearing down a gigabyte's page tables takes tens of milliseconds, and the pages
     * are in the file already, so nobody waits for it (the frozen window least of all).
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Thread t = new Thread(() -> Syscall.raw(Syscall.MUNMAP, address, bytes), "cryo-pages-unmap");
        t.setDaemon(true);
        t.start();
    }

    /** Unmaps on this thread (a copy that failed: its file is about to go). */
    void closeNow() {
        if (!closed) {
            closed = true;
            Syscall.raw(Syscall.MUNMAP, address, bytes);
        }
    }
}
