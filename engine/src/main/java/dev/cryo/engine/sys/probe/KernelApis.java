package dev.cryo.engine.sys.probe;

import dev.cryo.engine.sys.LibC;
import jnr.ffi.Pointer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.cryo.engine.sys.probe.ProbeCalls.*;

/**
 * The kernel interfaces CRIU 4.2's {@code check --feature} names, each exercised for real on this process or a
 * throwaway child: the call is made, and the answer is what the kernel did. Where a call could change this
 * process (the vDSO calls), the probe is one the kernel refuses harmlessly when the feature exists
 * ({@code EEXIST}) and rejects as unknown when it does not ({@code EINVAL}).
 */
public final class KernelApis {
    private static final int READ = 0, IO_SETUP = 206, IO_DESTROY = 207, MREMAP = 25, FLOCK = 73, ARCH_PRCTL = 158,
            TIMERFD_CREATE = 283, EVENTFD2 = 290, EPOLL_CREATE1 = 291, EPOLL_CTL = 233, MEMFD_CREATE = 319,
            MOVE_MOUNT = 429, OPENAT2 = 437, BIND = 49, LISTEN = 50, CONNECT = 42, ACCEPT4 = 288, SHUTDOWN = 48,
            GETSOCKNAME = 51, UNLINK = 87, MADVISE = 28, PTRACE = 101;
    private static final int AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10, SOCK_STREAM = 1, SOCK_DGRAM = 2,
            SOCK_CLOEXEC = 0x80000, SOL_SOCKET = 1, SOL_TCP = 6, IPPROTO_IPV6 = 41;
    private static final int EBADFD = 77, ENOMEM = 12, EOPNOTSUPP = 95;

    private KernelApis() {
    }

    /** /proc/PID/fdinfo shows each fd's mount id. */
    public static Finding mntId() {
        return fdinfoHas("mnt_id:", "fdinfo shows each fd's mount (mnt_id)");
    }

    private static Finding fdinfoHas(String field, String yes) {
        long fd = open("/proc/self/stat", O_RDONLY);
        if (fd < 0) {
            return Finding.no("cannot open a file to look at its fdinfo: " + errno(fd));
        }
        try {
            String info = Files.readString(Path.of("/proc/self/fdinfo/" + fd));
            return info.contains(field) ? Finding.yes(yes) : Finding.no("fdinfo has no " + field + " line");
        } catch (IOException e) {
            return Finding.no("cannot read /proc/self/fdinfo: " + e.getMessage());
        } finally {
            close(fd);
        }
    }

    /** A flock'd file's fdinfo shows the lock (what CRIU reads file locks from). */
    public static Finding fdinfoLock() {
        Path tmp;
        try {
            tmp = Files.createTempFile("cryo-check-lock", "");
        } catch (IOException e) {
            return Finding.no("cannot create a file to lock: " + e.getMessage());
        }
        long fd = open(tmp.toString(), O_RDWR);
        try {
            if (fd < 0) {
                return Finding.no("cannot open a file to lock: " + errno(fd));
            }
            long r = sys(FLOCK, fd, 2 /* LOCK_EX */ | 4 /* LOCK_NB */);
            if (r < 0) {
                return Finding.no("flock failed: " + errno(r));
            }
            String info = Files.readString(Path.of("/proc/self/fdinfo/" + fd));
            return info.contains("lock:") ? Finding.yes("a flock'd file's fdinfo shows its lock")
                    : Finding.no("fdinfo of a flock'd file has no lock: line");
        } catch (IOException e) {
            return Finding.no("cannot read /proc/self/fdinfo: " + e.getMessage());
        } finally {
            close(fd);
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // a temporary file; nothing depends on it
            }
        }
    }

    /** An AIO ring can be moved with mremap and the kernel follows it (io_destroy at the new address works). */
    public static Finding aioRemap() {
        Pointer ctx = memory(8);
        long r = sys(IO_SETUP, 1, ctx.address());
        if (r < 0) {
            return Finding.no("io_setup failed: " + errno(r));
        }
        long ring = ctx.getLong(0);
        long size = ringSize(ring);
        if (size <= 0) {
            sys(IO_DESTROY, ring);
            return Finding.no("io_setup made no [aio] mapping in /proc/self/maps");
        }
        long target = mapAnonymous(size);
        if (target < 0) {
            sys(IO_DESTROY, ring);
            return Finding.no("cannot reserve room to move the ring: " + errno(target));
        }
        long moved = sys(MREMAP, ring, size, size, 1 /* MAYMOVE */ | 2 /* FIXED */, target);
        if (moved < 0) {
            unmap(target, size);
            sys(IO_DESTROY, ring);
            return Finding.no("mremap of the AIO ring failed: " + errno(moved));
        }
        long d = sys(IO_DESTROY, moved);
        if (d < 0) {
            sys(IO_DESTROY, ring);
            return Finding.no("the kernel lost the AIO context once its ring moved: io_destroy " + errno(d));
        }
        return Finding.yes("an AIO ring moved with mremap stays the context (io_destroy at the new address)");
    }

    private static long ringSize(long ring) {
        try {
            String start = Long.toHexString(ring) + "-";
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                if (line.startsWith(start) && line.contains("[aio]")) {
                    String[] range = line.substring(0, line.indexOf(' ')).split("-");
                    return Long.parseUnsignedLong(range[1], 16) - Long.parseUnsignedLong(range[0], 16);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** timerfd's TFD_IOC_SET_TICKS, which restore needs to put back a timer's expirations. */
    public static Finding timerfd() {
        long fd = sys(TIMERFD_CREATE, 1 /* CLOCK_MONOTONIC */, O_CLOEXEC);
        if (fd < 0) {
            return Finding.no("timerfd_create failed: " + errno(fd));
        }
        try {
            Pointer ticks = memory(8);
            ticks.putLong(0, 1); // zero ticks is EINVAL by definition
            long r = ioctl(fd, 0x40085400L /* TFD_IOC_SET_TICKS */, ticks);
            return r == 0 ? Finding.yes("TFD_IOC_SET_TICKS sets a timerfd's ticks")
                    : Finding.no("TFD_IOC_SET_TICKS failed: " + errno(r) + " (kernel without CONFIG_CHECKPOINT_RESTORE?)");
        } finally {
            close(fd);
        }
    }

    /** /dev/net/tun takes TUNSETIFINDEX (tun devices keep their index on restore). */
    public static Finding tun() {
        long fd = open("/dev/net/tun", O_RDWR);
        if (fd < 0) {
            return Finding.no("cannot open /dev/net/tun: " + errno(fd));
        }
        try {
            Pointer index = memory(4);
            index.putInt(0, 0);
            long r = ioctl(fd, 0x400454daL /* TUNSETIFINDEX */, index);
            return r == 0 ? Finding.yes("/dev/net/tun takes TUNSETIFINDEX")
                    : Finding.no("TUNSETIFINDEX failed: " + errno(r));
        } finally {
            close(fd);
        }
    }

    /** TUNGETDEVNETNS is known (a detached tun fd answers EBADFD, not "no such ioctl"). */
    public static Finding tunNs() {
        long fd = open("/dev/net/tun", O_RDWR);
        if (fd < 0) {
            return Finding.no("cannot open /dev/net/tun: " + errno(fd));
        }
        try {
            long r = sys(IOCTL, fd, 0x54e3L /* TUNGETDEVNETNS */, 0);
            if (r >= 0) {
                close(r);
            }
            return r >= 0 || r == -EBADFD ? Finding.yes("TUNGETDEVNETNS is known (a detached tun fd answers EBADFD)")
                    : Finding.no("TUNGETDEVNETNS failed: " + errno(r));
        } finally {
            close(fd);
        }
    }

    /** A namespace file of the given kind exists for this process and can be opened. */
    public static Finding namespace(String kind, String what) {
        long fd = open("/proc/self/ns/" + kind, O_RDONLY);
        if (fd < 0) {
            return Finding.no("cannot open /proc/self/ns/" + kind + ": " + errno(fd));
        }
        close(fd);
        return Finding.yes(what + " (/proc/self/ns/" + kind + ")");
    }

    /** User namespaces: the ns file opens and NS_GET_OWNER_UID answers on it. */
    public static Finding userns() {
        long fd = open("/proc/self/ns/user", O_RDONLY);
        if (fd < 0) {
            return Finding.no("cannot open /proc/self/ns/user: " + errno(fd));
        }
        try {
            Pointer uid = memory(4);
            long r = ioctl(fd, 0xb704L /* NS_GET_OWNER_UID */, uid);
            return r == 0 ? Finding.yes("user namespaces, NS_GET_OWNER_UID answers (owner uid " + uid.getInt(0) + ")")
                    : Finding.no("NS_GET_OWNER_UID failed: " + errno(r));
        } finally {
            close(fd);
        }
    }

    /** A file under /proc/self (loginuid, status fields) as the feature needs. */
    public static Finding procFile(String file, String mustContain, String what) {
        try {
            String text = Files.readString(Path.of("/proc/self/" + file));
            return mustContain == null || text.contains(mustContain) ? Finding.yes(what)
                    : Finding.no("/proc/self/" + file + " has no " + mustContain.strip());
        } catch (IOException e) {
            return Finding.no("cannot read /proc/self/" + file + ": " + e.getMessage());
        }
    }

    /** A file system type the kernel has now (/proc/filesystems). */
    public static Finding filesystem(String name, String what) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/filesystems"))) {
                String[] f = line.trim().split("\\s+");
                if (f[f.length - 1].equals(name)) {
                    return Finding.yes(what + " (" + name + " in /proc/filesystems)");
                }
            }
            return Finding.no("no " + name + " in /proc/filesystems");
        } catch (IOException e) {
            return Finding.no("cannot read /proc/filesystems: " + e.getMessage());
        }
    }

    /** The vDSO mapping calls: refused with EEXIST when they exist, since this process has its vDSO already. */
    public static Finding mapVdso(int code, String what) {
        long r = sys(ARCH_PRCTL, code, 0);
        if (r == -EEXIST) {
            return Finding.yes(what + " (arch_prctl 0x" + Integer.toHexString(code) + " is known)");
        }
        return Finding.no("arch_prctl 0x" + Integer.toHexString(code) + " answered " + (r < 0 ? errno(r) : r));
    }

    /** SIOCGSKNS: a socket's network namespace. */
    public static Finding socketNetns() {
        long sk = sys(SOCKET, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sk < 0) {
            return Finding.no("cannot create a unix socket: " + errno(sk));
        }
        try {
            long ns = sys(IOCTL, sk, 0x894cL /* SIOCGSKNS */, 0);
            if (ns < 0) {
                return Finding.no("SIOCGSKNS failed: " + errno(ns));
            }
            close(ns);
            return Finding.yes("SIOCGSKNS gives a socket's network namespace");
        } finally {
            close(sk);
        }
    }

    /** SIOCUNIXFILE: the file a bound unix socket lives at, as an O_PATH fd. */
    public static Finding unixSocketFile() {
        long sk = sys(SOCKET, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sk < 0) {
            return Finding.no("cannot create a unix socket: " + errno(sk));
        }
        String path = System.getProperty("java.io.tmpdir", "/tmp") + "/cryo-check-" + sys(GETPID) + ".sock";
        Pointer name = cString(path);
        try {
            Pointer addr = memory(110);
            addr.putShort(0, (short) AF_UNIX);
            byte[] b = path.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            addr.put(2, b, 0, Math.min(b.length, 107));
            sys(UNLINK, name.address());
            long r = sys(BIND, sk, addr.address(), 110);
            if (r < 0) {
                return Finding.no("cannot bind a unix socket at " + path + ": " + errno(r));
            }
            long f = sys(IOCTL, sk, 0x89e0L /* SIOCUNIXFILE */, 0);
            if (f < 0) {
                return Finding.no("SIOCUNIXFILE failed: " + errno(f));
            }
            close(f);
            return Finding.yes("SIOCUNIXFILE gives a bound unix socket's file");
        } finally {
            close(sk);
            sys(UNLINK, name.address());
            java.lang.ref.Reference.reachabilityFence(name);
        }
    }

    /** KCMP_EPOLL_TFD: which file an epoll watches behind a target fd. */
    public static Finding kcmpEpoll() {
        long ep = sys(EPOLL_CREATE1, O_CLOEXEC);
        long ev = sys(EVENTFD2, 0, O_CLOEXEC);
        try {
            if (ep < 0 || ev < 0) {
                return Finding.no("cannot create an epoll and an eventfd: " + errno(Math.min(ep, ev)));
            }
            Pointer event = memory(12);
            event.putInt(0, 1 /* EPOLLIN */);
            long r = sys(EPOLL_CTL, ep, 1 /* ADD */, ev, event.address());
            if (r < 0) {
                return Finding.no("epoll_ctl failed: " + errno(r));
            }
            Pointer slot = memory(12);
            slot.putInt(0, (int) ep); // struct kcmp_epoll_slot: efd, tfd, toff
            slot.putInt(4, (int) ev);
            slot.putInt(8, 0);
            long self = sys(GETPID);
            long k = sys(KCMP, self, self, 7 /* KCMP_EPOLL_TFD */, ev, slot.address());
            return k == 0 ? Finding.yes("kcmp(KCMP_EPOLL_TFD) finds an epoll's target file")
                    : Finding.no("kcmp(KCMP_EPOLL_TFD) answered " + (k < 0 ? errno(k) : k));
        } finally {
            close(ev);
            close(ep);
        }
    }

    /** SO_BUF_LOCK, which keeps a socket's locked buffer sizes. */
    public static Finding sockoptBufLock() {
        long sk = sys(SOCKET, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sk < 0) {
            return Finding.no("cannot create a socket: " + errno(sk));
        }
        try {
            Pointer v = memory(4), len = memory(4);
            len.putInt(0, 4);
            long r = sys(GETSOCKOPT, sk, SOL_SOCKET, 72 /* SO_BUF_LOCK */, v.address(), len.address());
            return r == 0 ? Finding.yes("getsockopt(SO_BUF_LOCK) answers") : Finding.no("SO_BUF_LOCK: " + errno(r));
        } finally {
            close(sk);
        }
    }

    /** IPV6_FREEBIND on an IPv6 socket. */
    public static Finding ipv6Freebind() {
        long sk = sys(SOCKET, AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sk < 0) {
            return Finding.no("cannot create an IPv6 socket: " + errno(sk));
        }
        try {
            Pointer one = memory(4);
            one.putInt(0, 1);
            long r = sys(SETSOCKOPT, sk, IPPROTO_IPV6, 78 /* IPV6_FREEBIND */, one.address(), 4);
            return r == 0 ? Finding.yes("setsockopt(IPV6_FREEBIND) works") : Finding.no("IPV6_FREEBIND: " + errno(r));
        } finally {
            close(sk);
        }
    }

    /** memfd_create with MFD_HUGETLB (ENOMEM counts: the flag is known, the pool just has no pages). */
    public static Finding memfdHugetlb() {
        Pointer name = cString("cryo-check");
        long fd = sys(MEMFD_CREATE, name.address(), 1 /* MFD_CLOEXEC */ | 4 /* MFD_HUGETLB */);
        java.lang.ref.Reference.reachabilityFence(name);
        if (fd >= 0) {
            close(fd);
            return Finding.yes("memfd_create(MFD_HUGETLB) works");
        }
        return fd == -ENOMEM ? Finding.yes("memfd_create(MFD_HUGETLB) is known (no huge pages reserved)")
                : Finding.no("memfd_create(MFD_HUGETLB) failed: " + errno(fd));
    }

    /** move_mount knows MOVE_MOUNT_SET_GROUP (an unknown flag is EINVAL before any path is looked at). */
    public static Finding moveMountSetGroup() {
        Pointer empty = cString("");
        long r = sys(MOVE_MOUNT, -1, empty.address(), -1, empty.address(), 0x100 /* MOVE_MOUNT_SET_GROUP */);
        java.lang.ref.Reference.reachabilityFence(empty);
        if (r == -ENOSYS) {
            return Finding.no("no move_mount syscall (kernel < 5.2)");
        }
        return r == -EINVAL ? Finding.no("move_mount rejects MOVE_MOUNT_SET_GROUP as unknown (kernel < 5.15)")
                : Finding.yes("move_mount knows MOVE_MOUNT_SET_GROUP (answered " + errno(r) + " for no mount)");
    }

    /** openat2 opens / with a resolve flag. */
    public static Finding openat2() {
        Pointer path = cString("/");
        Pointer how = memory(24);
        how.putLong(0, O_RDONLY | O_CLOEXEC | 0x10000 /* O_DIRECTORY */);
        how.putLong(8, 0);
        how.putLong(16, 0x02 /* RESOLVE_NO_MAGICLINKS */);
        long fd = sys(OPENAT2, AT_FDCWD, path.address(), how.address(), 24);
        java.lang.ref.Reference.reachabilityFence(path);
        if (fd < 0) {
            return Finding.no("openat2 failed: " + errno(fd));
        }
        close(fd);
        return Finding.yes("openat2 opens / with RESOLVE_NO_MAGICLINKS");
    }

    /** PR_TIMER_CREATE_RESTORE_IDS: timer_create may be given the id a restored timer had. */
    public static Finding timerRestoreIds() {
        long r = sys(PRCTL, 77 /* PR_TIMER_CREATE_RESTORE_IDS */, 2 /* _GET */, 0, 0, 0);
        return r >= 0 ? Finding.yes("prctl(PR_TIMER_CREATE_RESTORE_IDS) answers (restore mode " + (r == 1 ? "on" : "off") + ")")
                : Finding.no("prctl(PR_TIMER_CREATE_RESTORE_IDS) failed: " + errno(r) + " (kernel < 6.16)");
    }

    /** PAGEMAP_SCAN reports guard regions (MADV_GUARD_INSTALL) with PAGE_IS_GUARD. */
    public static Finding pagemapScanGuardPages() {
        long length = 2 * PAGE;
        long area = mapAnonymous(length);
        if (area < 0) {
            return Finding.no("cannot map two pages: " + errno(area));
        }
        long pagemap = -1;
        try {
            long g = sys(MADVISE, area + PAGE, PAGE, 102 /* MADV_GUARD_INSTALL */);
            if (g < 0) {
                return Finding.no("madvise(MADV_GUARD_INSTALL) failed: " + errno(g) + " (kernel < 6.13)");
            }
            pagemap = open("/proc/self/pagemap", O_RDONLY);
            if (pagemap < 0) {
                return Finding.no("cannot open /proc/self/pagemap: " + errno(pagemap));
            }
            long guard = 1L << 8; // PAGE_IS_GUARD
            Pointer regions = memory(16 * 4);
            Pointer arg = memory(96);
            arg.putLong(0, 96);
            arg.putLong(16, area);
            arg.putLong(24, area + length);
            arg.putLong(40, regions.address());
            arg.putLong(48, 4);
            arg.putLong(72, guard);
            arg.putLong(88, guard);
            long n = ioctl(pagemap, UffdWriteProtect.PAGEMAP_SCAN, arg);
            if (n < 0) {
                return Finding.no("PAGEMAP_SCAN with PAGE_IS_GUARD failed: " + errno(n));
            }
            boolean found = n >= 1 && regions.getLong(0) == area + PAGE && (regions.getLong(16) & guard) != 0;
            return found ? Finding.yes("PAGEMAP_SCAN reports a MADV_GUARD_INSTALL page as PAGE_IS_GUARD")
                    : Finding.no("PAGEMAP_SCAN did not report the guard page (" + n + " regions)");
        } finally {
            close(pagemap);
            unmap(area, length);
        }
    }

    /**
     * TCP repair on a half-closed connection: a loopback connection whose one side has shut down writing is
     * put into repair mode (and closed silently from there).
     */
    public static Finding tcpHalfClosed() {
        long listener = -1, client = -1, server = -1;
        try {
            listener = sys(SOCKET, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            client = sys(SOCKET, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (listener < 0 || client < 0) {
                return Finding.no("cannot create TCP sockets: " + errno(Math.min(listener, client)));
            }
            Pointer addr = memory(16), len = memory(4);
            addr.putShort(0, (short) AF_INET);
            addr.putInt(4, 0x0100007f); // 127.0.0.1, port 0: the kernel picks one
            long r = sys(BIND, listener, addr.address(), 16);
            if (r == 0) {
                r = sys(LISTEN, listener, 1);
            }
            len.putInt(0, 16);
            if (r == 0) {
                r = sys(GETSOCKNAME, listener, addr.address(), len.address());
            }
            if (r == 0) {
                r = sys(CONNECT, client, addr.address(), 16);
            }
            if (r < 0) {
                return Finding.no("cannot make a loopback TCP connection: " + errno(r));
            }
            server = sys(ACCEPT4, listener, 0, 0, SOCK_CLOEXEC);
            if (server < 0) {
                return Finding.no("accept failed: " + errno(server));
            }
            sys(SHUTDOWN, client, 1 /* SHUT_WR */);
            Pointer one = memory(4);
            one.putInt(0, 1);
            long repair = sys(SETSOCKOPT, client, SOL_TCP, 19 /* TCP_REPAIR */, one.address(), 4);
            if (repair == -EPERM) {
                return Finding.no("TCP_REPAIR needs CAP_NET_ADMIN");
            }
            return repair == 0 ? Finding.yes("a half-closed loopback connection goes into TCP repair mode")
                    : Finding.no("TCP_REPAIR on a half-closed connection failed: " + errno(repair));
        } finally {
            close(server);
            close(client);
            close(listener);
        }
    }

    /**
     * The seccomp and debug-register parts of ptrace, on a throwaway sleep: {@code PTRACE_O_SUSPEND_SECCOMP} at
     * seize, {@code PTRACE_SECCOMP_GET_FILTER} (a tracee without a filter answers EINVAL or ENOENT, a kernel
     * without the request EIO), and the debug registers through {@code PTRACE_PEEKUSER}.
     *
     * @return seccomp_suspend, seccomp_filters, breakpoints
     */
    public static Finding[] tracedSeccompAndBreakpoints() {
        ThrowawayChild child;
        try {
            child = ThrowawayChild.spawnSleep();
        } catch (IOException e) {
            Finding none = Finding.no("no process to trace: " + e.getMessage());
            return new Finding[]{none, none, none};
        }
        try (child) {
            int pid = child.pid();
            child.awaitSleeping(1000);
            Finding suspend;
            long r = LibC.INSTANCE.ptrace(0x4206 /* SEIZE */, pid, 0, 1L << 21 /* O_SUSPEND_SECCOMP */);
            if (r == 0) {
                suspend = Finding.yes("PTRACE_SEIZE takes PTRACE_O_SUSPEND_SECCOMP");
            } else {
                suspend = Finding.no("PTRACE_O_SUSPEND_SECCOMP refused: " + errno(-LibC.errno()));
                if (LibC.INSTANCE.ptrace(0x4206, pid, 0, 0) != 0) {
                    Finding none = Finding.no("cannot trace a spawned sleep: " + errno(-LibC.errno()));
                    return new Finding[]{suspend, none, none};
                }
            }
            LibC.INSTANCE.ptrace(0x4207 /* INTERRUPT */, pid, 0, 0);
            long status = child.waitStatus();
            if (status < 0 || (status & 0xff) != 0x7f) {
                Finding none = Finding.no("the traced sleep did not stop");
                return new Finding[]{suspend, none, none};
            }
            long f = LibC.INSTANCE.ptrace(0x420c /* SECCOMP_GET_FILTER */, pid, 0, 0);
            int fe = f < 0 ? LibC.errno() : 0;
            Finding filters = f >= 0 || fe == EINVAL || fe == ENOENT
                    ? Finding.yes("PTRACE_SECCOMP_GET_FILTER answers (" + (f >= 0 ? f + " instructions" : errno(-fe)
                    + " for a tracee without a filter") + ")")
                    : Finding.no("PTRACE_SECCOMP_GET_FILTER failed: " + errno(-fe)
                    + (fe == EIO ? " (kernel without CONFIG_SECCOMP_FILTER and CONFIG_CHECKPOINT_RESTORE)" : ""));
            long dr7 = LibC.INSTANCE.ptrace(3 /* PEEKUSER */, pid, 848 + 7 * 8 /* u_debugreg[7] */, 0);
            int de = LibC.errno();
            Finding breakpoints = dr7 != -1 || de == 0
                    ? Finding.yes("the debug registers read through PTRACE_PEEKUSER (dr7 0x" + Long.toHexString(dr7) + ")")
                    : Finding.no("PTRACE_PEEKUSER of dr7 failed: " + errno(-de));
            return new Finding[]{suspend, filters, breakpoints};
        }
    }

    /** A program of the system, run with the arguments given, exits 0 within five seconds. */
    public static Finding program(String what, String stdin, String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            if (stdin != null) {
                p.getOutputStream().write(stdin.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes()).strip();
            if (!p.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return Finding.no(command[0] + " did not finish within 5 s");
            }
            return p.exitValue() == 0 ? Finding.yes(what)
                    : Finding.no(command[0] + " exited with " + p.exitValue() + (out.isEmpty() ? "" : ": "
                    + out.lines().findFirst().orElse("")));
        } catch (IOException e) {
            return Finding.no("cannot run " + command[0] + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Finding.no("interrupted");
        }
    }

    /** The first executable among the paths, or null. */
    public static String executable(String... paths) {
        for (String p : paths) {
            if (Files.isExecutable(Path.of(p))) {
                return p;
            }
        }
        return null;
    }

    /** One netlink request and the first reply: the reply's type, or {@code -errno} from an NLMSG_ERROR. */
    private static long netlink(int protocol, Pointer msg, int len) {
        long sk = sys(SOCKET, 16 /* AF_NETLINK */, 3 /* SOCK_RAW */ | SOCK_CLOEXEC, protocol);
        if (sk < 0) {
            return sk;
        }
        try {
            long r = sys(44 /* sendto */, sk, msg.address(), len, 0, 0, 0);
            if (r < 0) {
                return r;
            }
            Pointer reply = memory(8192);
            long n = sys(45 /* recvfrom */, sk, reply.address(), 8192, 0, 0, 0);
            if (n < 0) {
                return n;
            }
            int type = reply.getShort(4) & 0xffff;
            return type == 2 /* NLMSG_ERROR */ ? Math.min(0, reply.getInt(16)) : type;
        } finally {
            close(sk);
        }
    }

    /** RTM_GETNSID: the id this network namespace gives another (here: itself, by fd). */
    public static Finding netnsId() {
        long ns = open("/proc/self/ns/net", O_RDONLY);
        if (ns < 0) {
            return Finding.no("cannot open /proc/self/ns/net: " + errno(ns));
        }
        try {
            Pointer m = memory(28);
            m.putInt(0, 28);
            m.putShort(4, (short) 90 /* RTM_GETNSID */);
            m.putShort(6, (short) 1 /* NLM_F_REQUEST */);
            m.putInt(8, 1);
            m.putShort(20, (short) 8);
            m.putShort(22, (short) 3 /* NETNSA_FD */);
            m.putInt(24, (int) ns);
            long r = netlink(0 /* NETLINK_ROUTE */, m, 28);
            return r == 88 /* RTM_NEWNSID */ ? Finding.yes("rtnetlink answers RTM_GETNSID")
                    : Finding.no("RTM_GETNSID answered " + (r < 0 ? errno(r) : "message type " + r));
        } finally {
            close(ns);
        }
    }

    /** sock_diag knows raw sockets (inet_diag with IPPROTO_RAW). */
    public static Finding rawSocketDiag() {
        Pointer m = memory(72);
        m.putInt(0, 72);
        m.putShort(4, (short) 20 /* SOCK_DIAG_BY_FAMILY */);
        m.putShort(6, (short) (1 | 0x300) /* REQUEST | DUMP */);
        m.putInt(8, 1);
        m.putByte(16, (byte) AF_INET);
        m.putByte(17, (byte) 255 /* IPPROTO_RAW */);
        m.putInt(20, -1); // every state
        long r = netlink(4 /* NETLINK_SOCK_DIAG */, m, 72);
        return r >= 0 ? Finding.yes("sock_diag answers for raw sockets")
                : Finding.no("sock_diag for raw sockets: " + errno(r) + (r == -ENOENT ? " (no raw_diag)" : ""));
    }
}
