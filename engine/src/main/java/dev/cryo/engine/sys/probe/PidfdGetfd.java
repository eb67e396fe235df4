package dev.cryo.engine.sys.probe;

import static dev.cryo.engine.sys.probe.ProbeCalls.*;

/**
 * Whether {@code pidfd_getfd} gives the engine a process's open file: this process takes one of its own
 * fds through a pidfd of itself, and {@code kcmp} confirms the copy is the same open file description.
 */
public final class PidfdGetfd {
    private static final int KCMP_FILE = 0, F_GETFD = 1, FD_CLOEXEC = 1;

    private PidfdGetfd() {
    }

    public static Finding probe() {
        long self = sys(GETPID);
        long pidfd = sys(PIDFD_OPEN, self, 0);
        if (pidfd < 0) {
            return Finding.no(pidfd == -ENOSYS ? "no pidfd_open syscall (kernel < 5.3)"
                    : "pidfd_open of this process failed: " + errno(pidfd));
        }
        long fd = -1, copy = -1;
        try {
            fd = open("/dev/null", O_RDONLY);
            if (fd < 0) {
                return Finding.no("cannot open /dev/null to have an fd to take: " + errno(fd));
            }
            copy = sys(PIDFD_GETFD, pidfd, fd, 0);
            if (copy < 0) {
                return Finding.no(copy == -ENOSYS ? "no pidfd_getfd syscall (kernel < 5.6)"
                        : "pidfd_getfd failed: " + errno(copy));
            }
            long same = sys(KCMP, self, self, KCMP_FILE, fd, copy);
            if (same != 0) {
                return Finding.no(same < 0 ? "kcmp cannot compare the copy: " + errno(same)
                        : "pidfd_getfd returned a different open file (kcmp " + same + ")");
            }
            long flags = sys(FCNTL, copy, F_GETFD);
            String cloexec = flags >= 0 && (flags & FD_CLOEXEC) != 0 ? ", close-on-exec" : "";
            return Finding.yes("pidfd_getfd copies an fd as the same open file (kcmp equal" + cloexec + ")");
        } finally {
            close(copy);
            close(fd);
            close(pidfd);
        }
    }
}
