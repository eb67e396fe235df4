package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.proto.file_entry;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code --inherit-fd fd[N]:RES} on restore, as CRIU does it: the file of the images that RES names is not made
 * again; the restorer's own fd N stands in for it, given to every task that held it (the same open file
 * description, through pidfd_getfd). A container runtime passes the new stdio pipes this way; a user may put
 * another file in place of one the images name. RES is CRIU's name of the file: {@code pipe:[INO]} (the pipe's
 * inode at dump time), {@code socket:[INO]}, {@code tty[RDEV:DEV]} (hex, as CRIU prints them), or the path of a
 * file with or without its leading slash. An RES that names no file of the images changes nothing (logged).
 */
public final class InheritedFds {
    private static final String USED = "inherit-fd: used";

    private InheritedFds() {
    }

    /** CRIU's names of a file of the images: what an RES may say to name it. */
    static Set<String> names(file_entry f, Tty.Restore ttys) {
        Set<String> out = new HashSet<>();
        switch (f.getType()) {
            case PIPE -> out.add("pipe:[" + Integer.toUnsignedString(f.getPipe().getPipeId()) + "]");
            case UNIXSK -> out.add("socket:[" + Integer.toUnsignedString(f.getUsk().getIno()) + "]");
            case INETSK -> out.add("socket:[" + Integer.toUnsignedString(f.getIsk().getIno()) + "]");
            case NETLINKSK -> out.add("socket:[" + Integer.toUnsignedString(f.getNlsk().getIno()) + "]");
            case REG -> {
                String name = f.getReg().getName();
                out.add(name);
                out.add(name.startsWith("/") ? name.substring(1) : "/" + name);
            }
            case TTY -> {
                var info = ttys == null ? null : ttys.info(f.getTty().getTtyInfoId());
                if (info != null) {
                    out.add("tty[" + Integer.toHexString(info.getRdev()) + ":" + Integer.toHexString(info.getDev()) + "]");
                    String path = ttys.path(f.getTty(), info);
                    out.add(path);
                    out.add(path.substring(1));
                }
            }
            default -> {
            }
        }
        return out;
    }

    /** The restorer's fd that stands for {@code file}, or null when no --inherit-fd names it. */
    public static Integer match(FdRestoreContext ctx, file_entry file) {
        List<FileOptions.InheritFd> given = ctx.options().files().inheritFds();
        if (given.isEmpty()) {
            return null;
        }
        Set<String> names = names(file, (Tty.Restore) ctx.state().get(Tty.Restore.class));
        for (FileOptions.InheritFd i : given) {
            if (names.contains(i.resource())) {
                @SuppressWarnings("unchecked")
                Set<String> used = (Set<String>) ctx.state().computeIfAbsent(USED, k -> new HashSet<String>());
                used.add(i.resource());
                return i.fd();
            }
        }
        return null;
    }

    /** Gives the restorer's fd {@code fd} to the task (the same open file description); returns its number there. */
    public static int give(FdRestoreContext ctx, int fd, String what) throws CryoException {
        if (Syscall.raw(Syscall.FCNTL, fd, 1 /* F_GETFD */) < 0) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": --inherit-fd fd[" + fd + "] stands for "
                    + what + ", but cryo has no fd " + fd + " open (pass it to cryo, e.g. " + fd + "<FILE)");
        }
        try {
            int got = SharedFiles.of(ctx).give(ctx, fd);
            ctx.log().info("pid %d: %s is cryo's fd %d (--inherit-fd)", ctx.pid(), what, fd);
            return got;
        } catch (SyscallException e) {
            throw new CryoException("cannot restore pid " + ctx.pid() + ": giving it cryo's fd " + fd + " for " + what
                    + " (--inherit-fd) failed: " + e.getMessage(), e);
        }
    }

    /** Logs the --inherit-fd options that named no file of the images (as CRIU, they change nothing). */
    @SuppressWarnings("unchecked")
    public static void reportUnused(List<FileOptions.InheritFd> given, java.util.Map<Object, Object> state,
                                    dev.cryo.engine.log.Log log) {
        Set<String> used = (Set<String>) state.getOrDefault(USED, Set.of());
        for (FileOptions.InheritFd i : given) {
            if (!used.contains(i.resource())) {
                log.warn("--inherit-fd fd[%d]:%s names no file of the images; it changed nothing", i.fd(), i.resource());
            }
        }
    }
}
