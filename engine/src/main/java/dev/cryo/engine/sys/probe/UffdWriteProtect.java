package dev.cryo.engine.sys.probe;

import jnr.ffi.Pointer;

import java.util.ArrayList;
import java.util.List;

import static dev.cryo.engine.sys.probe.ProbeCalls.*;

/**
 * Userfaultfd and the dirty-page tracker built on it where soft-dirty is missing: asynchronous
 * write-protection ({@code UFFD_FEATURE_WP_ASYNC}, 6.7+) read back with the {@code PAGEMAP_SCAN} ioctl
 * ({@code PAGE_IS_WRITTEN}). The probe write-protects 64 pages of its own, writes three of them, and
 * expects the scan to name exactly those three. With WP_ASYNC the kernel resolves the write faults itself,
 * so no write can block; without it the probe never write-protects anything.
 */
public final class UffdWriteProtect {
    static final long UFFD_API = 0xAA;
    static final long UFFDIO_API = 0xC018AA3FL, UFFDIO_REGISTER = 0xC020AA00L, UFFDIO_WRITEPROTECT = 0xC018AA06L;
    static final long PAGEMAP_SCAN = 0xC0606610L;
    static final long FEATURE_EVENT_FORK = 1 << 1, FEATURE_EVENT_REMAP = 1 << 2, FEATURE_EVENT_REMOVE = 1 << 3,
            FEATURE_EVENT_UNMAP = 1 << 6, FEATURE_WP_UNPOPULATED = 1 << 13, FEATURE_WP_ASYNC = 1 << 15;
    static final long NONCOOPERATIVE = FEATURE_EVENT_FORK | FEATURE_EVENT_REMAP | FEATURE_EVENT_REMOVE
            | FEATURE_EVENT_UNMAP;
    static final long REGISTER_MODE_WP = 1 << 1, WRITEPROTECT_MODE_WP = 1;
    static final long PAGE_IS_WRITTEN = 1 << 1;

    private static final int PAGES = 64;
    private static final int[] WRITTEN = {3, 17, 42};
    /** {@code struct pm_scan_arg}: twelve u64 fields. */
    private static final int SCAN_ARG_SIZE = 96;
    /** {@code struct page_region}: start, end, categories. */
    private static final int REGION_SIZE = 24;

    /**
     * @param uffd        the userfaultfd syscall and its API handshake
     * @param noncoop     the non-cooperative events CRIU's lazy pages use (fork, remap, remove, unmap)
     * @param wpAsync     asynchronous write-protection
     * @param pagemapScan PAGEMAP_SCAN reporting written pages
     */
    public record Findings(Finding uffd, Finding noncoop, Finding wpAsync, Finding pagemapScan) {
    }

    private UffdWriteProtect() {
    }

    public static Findings probe() {
        long fd = sys(USERFAULTFD, O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            String why = fd == -ENOSYS ? "no userfaultfd syscall (kernel without CONFIG_USERFAULTFD)"
                    : fd == -EPERM ? "userfaultfd refused: needs CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1"
                    : "userfaultfd failed: " + errno(fd);
            Finding no = Finding.no(why);
            return new Findings(no, no, no, Finding.no("not probed: " + why));
        }
        long offered;
        try {
            Pointer api = memory(24);
            api.putLong(0, UFFD_API);
            long r = ioctl(fd, UFFDIO_API, api);
            if (r < 0) {
                Finding no = Finding.no("UFFDIO_API handshake failed: " + errno(r));
                return new Findings(no, no, no, Finding.no("not probed: no userfaultfd"));
            }
            offered = api.getLong(8);
        } finally {
            close(fd);
        }
        Finding uffd = Finding.yes("userfaultfd opens and completes UFFDIO_API (features 0x"
                + Long.toHexString(offered) + ")");
        Finding noncoop = (offered & NONCOOPERATIVE) == NONCOOPERATIVE
                ? Finding.yes("fork, remap, remove and unmap events offered")
                : Finding.no("non-cooperative events missing (features 0x" + Long.toHexString(offered) + ")");
        if ((offered & FEATURE_WP_ASYNC) == 0) {
            return new Findings(uffd, noncoop, Finding.no("UFFD_FEATURE_WP_ASYNC not offered (kernel < 6.7)"),
                    scanWithoutWriteProtect());
        }
        return writeProtectAndScan(uffd, noncoop, offered);
    }

    private static Findings writeProtectAndScan(Finding uffd, Finding noncoop, long offered) {
        long wanted = FEATURE_WP_ASYNC | (offered & FEATURE_WP_UNPOPULATED);
        long fd = sys(USERFAULTFD, O_CLOEXEC | O_NONBLOCK);
        long length = PAGES * PAGE;
        long area = -1, pagemap = -1;
        try {
            Pointer api = memory(24);
            api.putLong(0, UFFD_API);
            api.putLong(8, wanted);
            long r = fd < 0 ? fd : ioctl(fd, UFFDIO_API, api);
            if (r < 0) {
                return new Findings(uffd, noncoop, Finding.no("UFFDIO_API with WP_ASYNC refused: " + errno(r)),
                        Finding.no("not probed: no asynchronous write-protection"));
            }
            area = mapAnonymous(length);
            if (area < 0) {
                return new Findings(uffd, noncoop, Finding.no("cannot map pages to probe with: " + errno(area)),
                        Finding.no("not probed"));
            }
            Pointer pages = at(area);
            for (int i = 0; i < PAGES; i++) {
                pages.putByte(i * PAGE, (byte) 1); // present pages, so only the writes below count
            }
            Pointer register = memory(32);
            register.putLong(0, area);
            register.putLong(8, length);
            register.putLong(16, REGISTER_MODE_WP);
            r = ioctl(fd, UFFDIO_REGISTER, register);
            if (r < 0) {
                return new Findings(uffd, noncoop, Finding.no("UFFDIO_REGISTER in write-protect mode failed: "
                        + errno(r)), Finding.no("not probed"));
            }
            Pointer protect = memory(24);
            protect.putLong(0, area);
            protect.putLong(8, length);
            protect.putLong(16, WRITEPROTECT_MODE_WP);
            r = ioctl(fd, UFFDIO_WRITEPROTECT, protect);
            if (r < 0) {
                return new Findings(uffd, noncoop, Finding.no("UFFDIO_WRITEPROTECT failed: " + errno(r)),
                        Finding.no("not probed"));
            }
            for (int page : WRITTEN) {
                pages.putByte(page * PAGE + 8, (byte) 2); // resolved by the kernel: WP_ASYNC
            }
            Finding wp = Finding.yes("UFFD_FEATURE_WP_ASYNC granted; writes to write-protected pages go on "
                    + "without a fault handler");
            pagemap = open("/proc/self/pagemap", O_RDONLY);
            if (pagemap < 0) {
                return new Findings(uffd, noncoop, wp, Finding.no("cannot open /proc/self/pagemap: " + errno(pagemap)));
            }
            return new Findings(uffd, noncoop, wp, scan(pagemap, area, length));
        } finally {
            close(pagemap);
            unmap(area, length);
            close(fd);
        }
    }

    private static Finding scan(long pagemap, long area, long length) {
        Pointer regions = memory(PAGES * REGION_SIZE);
        Pointer arg = memory(SCAN_ARG_SIZE);
        arg.putLong(0, SCAN_ARG_SIZE);
        arg.putLong(16, area);
        arg.putLong(24, area + length);
        arg.putLong(40, regions.address());
        arg.putLong(48, PAGES);
        arg.putLong(72, PAGE_IS_WRITTEN); // category_mask: written pages only
        arg.putLong(88, PAGE_IS_WRITTEN); // return_mask
        long n = ioctl(pagemap, PAGEMAP_SCAN, arg);
        if (n < 0) {
            return Finding.no("PAGEMAP_SCAN ioctl failed: " + errno(n)
                    + (n == -ENOTTY || n == -EINVAL ? " (kernel < 6.7)" : ""));
        }
        List<Long> written = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long start = regions.getLong(i * REGION_SIZE), end = regions.getLong(i * REGION_SIZE + 8);
            for (long a = start; a < end; a += PAGE) {
                written.add((a - area) / PAGE);
            }
        }
        List<Long> expected = new ArrayList<>();
        for (int page : WRITTEN) {
            expected.add((long) page);
        }
        if (!written.equals(expected)) {
            return Finding.no("PAGEMAP_SCAN reported pages " + written + " as written, expected " + expected);
        }
        return Finding.yes("PAGEMAP_SCAN names exactly the " + WRITTEN.length + " pages written of " + PAGES
                + " write-protected");
    }

    /** Without WP_ASYNC there is nothing to scan for; the ioctl's presence is still worth a line. */
    private static Finding scanWithoutWriteProtect() {
        long pagemap = open("/proc/self/pagemap", O_RDONLY);
        if (pagemap < 0) {
            return Finding.no("cannot open /proc/self/pagemap: " + errno(pagemap));
        }
        try {
            Pointer arg = memory(SCAN_ARG_SIZE);
            arg.putLong(0, SCAN_ARG_SIZE);
            long n = ioctl(pagemap, PAGEMAP_SCAN, arg); // an empty range: answers without scanning
            return n < 0 ? Finding.no("no PAGEMAP_SCAN ioctl: " + errno(n) + " (kernel < 6.7)")
                    : Finding.no("PAGEMAP_SCAN exists but has no asynchronous write-protection to read");
        } finally {
            close(pagemap);
        }
    }
}
