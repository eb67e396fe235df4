package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.proc.FdInfo;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

/**
 * What the event-object fds (eventfd, epoll, timerfd, signalfd, inotify) have in common: their state is read from
 * /proc/PID/fdinfo/N, their file flags keep only O_NONBLOCK across a restore (O_CLOEXEC lives in fdinfo_entry), and
 * small structs reach the new task through the scratch area.
 */
final class EventObjects {
    static final int O_NONBLOCK = 04000, O_CLOEXEC = 02000000;
    /** Where in the restore scratch area these kinds put their structs (0.. holds path strings). */
    static final int SCRATCH_AT = 3072;

    private EventObjects() {
    }

    /** The lines of /proc/PID/fdinfo/N, read again (FdInfo keeps only the first of repeated keys). */
    static List<String> fdinfoLines(FdDumpContext ctx, FdInfo fd) throws CryoException {
        try {
            return List.of(Files.readString(ctx.proc().dir(ctx.pid()).resolve("fdinfo/" + fd.fd())).split("\n"));
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target()
                    + "): reading its fdinfo failed: " + e.getMessage(), e);
        }
    }

    /** The value of {@code key} in a "key: value key: value" fdinfo line, or null. */
    static String field(String line, String key) {
        int at = line.indexOf(key + ":");
        while (at > 0 && !Character.isWhitespace(line.charAt(at - 1))) {
            at = line.indexOf(key + ":", at + 1);
        }
        if (at < 0) {
            return null;
        }
        int from = at + key.length() + 1;
        while (from < line.length() && Character.isWhitespace(line.charAt(from))) {
            from++;
        }
        int to = from;
        while (to < line.length() && !Character.isWhitespace(line.charAt(to))) {
            to++;
        }
        return line.substring(from, to);
    }

    static String required(FdDumpContext ctx, FdInfo fd, String key) throws CryoException {
        String v = fd.extra().get(key);
        if (v == null) {
            throw new CryoException("cannot dump pid " + ctx.pid() + ": fd " + fd.fd() + " (" + fd.target()
                    + "): its fdinfo has no '" + key + "' line (kernel too old?)");
        }
        return v;
    }

    /** Two numbers as fdinfo prints a timespec: "(sec, nsec)". */
    static long[] pair(String v) {
        String[] p = v.replace("(", "").replace(")", "").split(",");
        return new long[]{Long.parseLong(p[0].trim()), Long.parseLong(p[1].trim())};
    }

    /** Flags kept in file entries: the file status flags without O_CLOEXEC, which is per fd. */
    static int fileFlags(FdInfo fd) {
        return fd.flags() & ~O_CLOEXEC;
    }

    static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Copies a struct into the scratch area of the new task and returns its address there. */
    static long put(FdRestoreContext ctx, int offset, ByteBuffer b) throws SyscallException {
        byte[] bytes = b.array();
        ctx.scratch().write(SCRATCH_AT + offset, bytes);
        return ctx.scratch().address() + SCRATCH_AT + offset;
    }

    static CryoException restoreFailed(FdRestoreContext ctx, int fd, String what, Exception e) {
        return new CryoException("cannot restore pid " + ctx.pid() + ": fd " + fd + " (" + what + "): "
                + e.getMessage(), e);
    }

    static List<String> startingWith(List<String> lines, String prefix) {
        List<String> out = new ArrayList<>();
        for (String l : lines) {
            if (l.startsWith(prefix)) {
                out.add(l);
            }
        }
        return out;
    }
}
