package dev.cryo.engine.mem;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.proc.MapsEntry;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Dirty pages from userfaultfd write-protection in asynchronous mode ({@code UFFD_FEATURE_WP_ASYNC}, 6.7+),
 * read back with the {@code PAGEMAP_SCAN} ioctl ({@code PAGE_IS_WRITTEN}). Works where soft-dirty is not
 * built in. Arming creates a userfaultfd inside the frozen target (its mm is the one it tracks), takes it into
 * Cryo with pidfd_getfd, closes the target's copy, registers and write-protects every tracked VMA, and hands
 * the fd to an {@link UffdKeeper} so tracking outlives this run. With WP_ASYNC the kernel resolves a write to a
 * protected page itself (no handler, no blocking): the program cannot tell, except that a userfaultfd of its
 * own cannot register the same ranges (EBUSY).
 *
 * <p>Each arming uses a new userfaultfd and keeper and ends the earlier ones: the keeper is then the identity of
 * one arming, and a dump whose parent names a keeper that is gone knows another run re-armed the target (its
 * answer would be "written since that other arming"), and counts everything as written. A page the kernel
 * cannot vouch for shows as written anyway: VMAs never registered (new ones, or moved by mremap, which drops
 * the registration) have no protected PTEs, and closing a userfaultfd clears its protection.
 */
public final class UffdWpTracker implements DirtyTracker {
    static final long UFFD_API = 0xAA;
    static final long UFFDIO_API = 0xC018AA3FL, UFFDIO_REGISTER = 0xC020AA00L, UFFDIO_UNREGISTER = 0x8010AA01L,
            UFFDIO_WRITEPROTECT = 0xC018AA06L;
    static final long PAGEMAP_SCAN = 0xC0606610L;
    static final long FEATURE_WP_UNPOPULATED = 1 << 13, FEATURE_WP_ASYNC = 1 << 15;
    static final long REGISTER_MODE_WP = 1 << 1, WRITEPROTECT_MODE_WP = 1;
    static final long PAGE_IS_WRITTEN = 1 << 1;
    static final int UFFD_USER_MODE_ONLY = 1, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    static final int SCAN_ARG_SIZE = 96, REGION_SIZE = 24, REGIONS = 4096;

    private final Log log;
    private final int pid;
    private final long startTime;
    /** Keepers of earlier armings, ended once this dump went through. */
    private final List<UffdKeeper> earlier;
    private UffdKeeper keeper;
    private int localFd = -1;

    /**
     * @param earlier every live keeper of this target (the parent's among them): they are emptied when this
     *                dump arms, and ended on {@link #commit}
     */
    public UffdWpTracker(Log log, int pid, long startTime, List<UffdKeeper> earlier) {
        this.log = log;
        this.pid = pid;
        this.startTime = startTime;
        this.earlier = List.copyOf(earlier);
    }

    @Override
    public String name() {
        return "uffd-wp";
    }

    @Override
    public PageRanges written(TrackedTarget target, PageRanges own, List<MapsEntry> tracked) throws CryoException {
        NativeBuffer path = cString("/proc/" + pid + "/pagemap");
        long pagemap = Syscall.raw(Syscall.OPENAT, -100, path.address(), O_CLOEXEC, 0);
        java.lang.ref.Reference.reachabilityFence(path); // the buffer must outlive the call that reads it
        if (pagemap < 0) {
            throw new CryoException("cannot dump pid " + pid + ": cannot open /proc/" + pid + "/pagemap to scan for "
                    + "written pages: " + SyscallException.describe((int) -pagemap));
        }
        try {
            NativeBuffer arg = NativeBuffer.allocate(SCAN_ARG_SIZE);
            NativeBuffer regions = NativeBuffer.allocate(REGIONS * REGION_SIZE);
            PageRanges.Builder out = PageRanges.builder();
            for (MapsEntry m : tracked) {
                long at = m.start();
                while (at < m.end()) {
                    arg.clear();
                    arg.putLong(0, SCAN_ARG_SIZE);
                    arg.putLong(16, at);
                    arg.putLong(24, m.end());
                    arg.putLong(40, regions.address());
                    arg.putLong(48, REGIONS);
                    arg.putLong(72, PAGE_IS_WRITTEN); // category_mask: written pages only
                    arg.putLong(88, PAGE_IS_WRITTEN); // return_mask
                    long n = Syscall.raw(Syscall.IOCTL, pagemap, PAGEMAP_SCAN, arg.address());
                    if (n < 0) {
                        // unknown state is written state
                        log.warn("PAGEMAP_SCAN of %s failed (%s); counting it as written", m,
                                SyscallException.describe((int) -n));
                        out.add(at, m.end());
                        break;
                    }
                    for (int i = 0; i < n; i++) {
                        out.add(regions.getLong(i * REGION_SIZE), regions.getLong(i * REGION_SIZE + 8));
                    }
                    // on after what was answered: this kernel's walk_end can stop short of the last region returned
                    // (see PageMapScanner); the ranges would only be merged again, but scanned twice
                    long walkEnd = arg.getLong(32);
                    long answered = n > 0 ? regions.getLong((int) (n - 1) * REGION_SIZE + 8) : at;
                    long next = Math.max(walkEnd, answered);
                    at = next <= at ? m.end() : next;
                }
            }
            return out.build();
        } finally {
            Syscall.raw(Syscall.CLOSE, pagemap);
        }
    }

    @Override
    public List<MapsEntry> arm(TrackedTarget target, List<MapsEntry> vmas, PageRanges own) throws CryoException {
        try {
            forgetEarlier(vmas);
            long remoteFd = target.remote().call("userfaultfd", Syscall.USERFAULTFD,
                    O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
            try {
                long pidfd = Syscall.call("pidfd_open(" + pid + ")", Syscall.PIDFD_OPEN, pid, 0);
                try {
                    localFd = (int) Syscall.call("pidfd_getfd", Syscall.PIDFD_GETFD, pidfd, remoteFd, 0);
                } finally {
                    Syscall.raw(Syscall.CLOSE, pidfd);
                }
            } finally {
                target.remote().call("close", Syscall.CLOSE, remoteFd);
            }
            NativeBuffer api = NativeBuffer.allocate(24);
            api.putLong(0, UFFD_API);
            // no WP_UNPOPULATED: its markers on empty PTEs read as swapped pages in /proc/PID/pagemap
            api.putLong(8, FEATURE_WP_ASYNC);
            Syscall.call("UFFDIO_API(WP_ASYNC)", Syscall.IOCTL, localFd, UFFDIO_API, api.address());
            List<MapsEntry> armed = new ArrayList<>();
            NativeBuffer reg = NativeBuffer.allocate(32);
            for (MapsEntry m : vmas) {
                if (!trackable(m)) {
                    continue;
                }
                reg.clear();
                reg.putLong(0, m.start());
                reg.putLong(8, m.length());
                reg.putLong(16, REGISTER_MODE_WP);
                long r = Syscall.raw(Syscall.IOCTL, localFd, UFFDIO_REGISTER, reg.address());
                if (r < 0) {
                    // e.g. EBUSY: the program's own userfaultfd has it; then it is not tracked, so always written
                    log.info("not tracking %s: UFFDIO_REGISTER: %s", m, SyscallException.describe((int) -r));
                    continue;
                }
                reg.clear();
                reg.putLong(0, m.start());
                reg.putLong(8, m.length());
                reg.putLong(16, WRITEPROTECT_MODE_WP);
                r = Syscall.raw(Syscall.IOCTL, localFd, UFFDIO_WRITEPROTECT, reg.address());
                if (r < 0) {
                    log.info("not tracking %s: UFFDIO_WRITEPROTECT: %s", m, SyscallException.describe((int) -r));
                    continue;
                }
                armed.add(m);
            }
            log.info("uffd-wp: %d of %d VMAs write-protected", armed.size(), vmas.size());
            return armed; // Cryo holds the userfaultfd until save() hands it to a keeper, once the target runs on
        } catch (SyscallException e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot start tracking memory with uffd-wp: "
                    + e.getMessage(), e);
        }
    }

    /** Removes the earlier armings' protection first: a second userfaultfd could not register the same VMAs. */
    private void forgetEarlier(List<MapsEntry> vmas) {
        NativeBuffer range = NativeBuffer.allocate(16);
        for (UffdKeeper k : earlier) {
            int fd;
            try {
                fd = k.takeFd();
            } catch (SyscallException e) {
                log.warn("cannot take the userfaultfd of keeper %d: %s", k.pid(), e.getMessage());
                continue;
            }
            for (MapsEntry m : vmas) {
                if (DirtyTracker.trackable(m)) {
                    range.putLong(0, m.start());
                    range.putLong(8, m.length());
                    Syscall.raw(Syscall.IOCTL, fd, UFFDIO_UNREGISTER, range.address()); // not registered: fine
                }
            }
            Syscall.raw(Syscall.CLOSE, fd);
        }
    }

    /** Hands the userfaultfd to a new keeper (after the target was released: spawning takes a while). */
    @Override
    public Map<String, String> save(Path dir) throws CryoException {
        if (localFd >= 0) {
            try {
                keeper = UffdKeeper.spawn(pid, startTime, localFd);
            } catch (SyscallException | IOException e) {
                throw new CryoException("cannot start the process that keeps the userfaultfd of pid " + pid + ": "
                        + e.getMessage(), e);
            }
            Syscall.raw(Syscall.CLOSE, localFd);
            localFd = -1;
            log.info("uffd-wp: userfaultfd kept by pid %d", keeper.pid());
        }
        return keeper == null ? Map.of() : Map.of("keeper", keeper.format());
    }

    @Override
    public void commit() {
        for (UffdKeeper k : earlier) {
            k.stop(pid, startTime);
        }
    }

    @Override
    public void abort() {
        if (localFd >= 0) {
            Syscall.raw(Syscall.CLOSE, localFd); // the last reference: the kernel drops the protection
            localFd = -1;
        }
        if (keeper != null) {
            keeper.stop(pid, startTime);
            keeper = null;
        }
    }

    /**
     * Anonymous private VMAs only: write-protecting a file-backed VMA puts markers on its empty PTEs, which
     * /proc/PID/pagemap shows as swapped pages; such VMAs (a library's data, mostly small) count as written.
     */
    static boolean trackable(MapsEntry m) {
        return DirtyTracker.trackable(m) && !m.fileBacked() && m.inode() == 0;
    }

    /** The keeper a track state names, if it still keeps this target's userfaultfd. */
    public static Optional<UffdKeeper> liveKeeper(Map<String, String> state, int pid, long startTime) {
        return UffdKeeper.parse(state.get("keeper")).filter(k -> k.holds(pid, startTime));
    }

    static NativeBuffer cString(String s) {
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        NativeBuffer n = NativeBuffer.allocate(b.length + 1);
        n.put(0, b);
        n.buffer().put(b.length, (byte) 0);
        return n;
    }
}
