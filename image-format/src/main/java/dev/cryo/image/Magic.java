package dev.cryo.image;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * CRIU's image magics. Source: CRIU's {@code criu/include/magic.h}, as listed in Debian crit 3.17's
 * {@code pycriu/images/magic.py}. Every image starts with {@link #IMG_COMMON} (or {@link #IMG_SERVICE} for
 * stats and irmap-cache) followed by its own magic; {@code inventory.img} carries only its own magic.
 *
 * @param name  crit's name for the image type ("CORE"), used as {@code "magic"} in JSON
 * @param value the 32-bit magic as written little-endian in the file
 */
public record Magic(String name, int value) {
    /** Leading magic of ordinary images (images v1.1). */
    public static final int IMG_COMMON = 0x54564319;
    /** Leading magic of service files: stats-dump, stats-restore, irmap-cache. */
    public static final int IMG_SERVICE = 0x55105940;
    /** inventory_entry.img_version of images with leading magics (CRIU's CRTOOLS_IMAGES_V1_1). */
    public static final int IMAGES_V1_1 = 2;

    private static final Map<String, Magic> BY_NAME = new LinkedHashMap<>();
    private static final Map<Integer, Magic> BY_VALUE = new LinkedHashMap<>();

    static {
        m("INVENTORY", 0x58313116);
        m("PSTREE", 0x50273030);
        m("FDINFO", 0x56213732);
        m("PAGEMAP", 0x56084025);
        m("CORE", 0x55053847);
        m("IDS", 0x54432030);
        m("VMAS", 0x54123737);
        m("PIPES", 0x56513555);
        m("PIPES_DATA", 0x56453709);
        m("FIFO", 0x58364939);
        m("FIFO_DATA", 0x59333054);
        m("SIGACT", 0x55344201);
        m("UNIXSK", 0x54373943);
        m("INETSK", 0x56443851);
        m("PACKETSK", 0x60454618);
        m("ITIMERS", 0x57464056);
        m("POSIX_TIMERS", 0x52603957);
        m("SK_QUEUES", 0x56264026);
        m("UTSNS", 0x54473203);
        m("CREDS", 0x54023547);
        m("IPC_VAR", 0x53115007);
        m("IPCNS_SHM", 0x46283044);
        m("IPCNS_MSG", 0x55453737);
        m("IPCNS_SEM", 0x59573019);
        m("REG_FILES", 0x50363636);
        m("EXT_FILES", 0x59255641);
        m("FS", 0x51403912);
        m("MM", 0x57492820);
        m("REMAP_FPATH", 0x59133954);
        m("GHOST_FILE", 0x52583605);
        m("TCP_STREAM", 0x51465506);
        m("EVENTFD_FILE", 0x44523722);
        m("EVENTPOLL_FILE", 0x45023858);
        m("EVENTPOLL_TFD", 0x44433746);
        m("SIGNALFD", 0x57323820);
        m("INOTIFY_FILE", 0x48424431);
        m("INOTIFY_WD", 0x54562009);
        m("MNTS", 0x55563928);
        m("NETDEV", 0x57373951);
        m("NETNS", 0x55933752);
        m("TTY_FILES", 0x59433025);
        m("TTY_INFO", 0x59453036);
        m("TTY_DATA", 0x59413026);
        m("FILE_LOCKS", 0x54323616);
        m("RLIMIT", 0x57113925);
        m("FANOTIFY_FILE", 0x55096122);
        m("FANOTIFY_MARK", 0x56506035);
        m("SIGNAL", 0x59255647);
        m("NETLINK_SK", 0x58005614);
        m("NS_FILES", 0x61394011);
        m("TUNFILE", 0x57143751);
        m("CGROUP", 0x59383330);
        m("TIMERFD", 0x50493712);
        m("CPUINFO", 0x61404013);
        m("USERNS", 0x55474906);
        m("SECCOMP", 0x64413049);
        m("BINFMT_MISC", 0x67343323);
        m("AUTOFS", 0x49353943);
        m("FILES", 0x56303138);
        m("MEMFD_INODE", 0x48453499);
        m("TIMENS", 0x43114433);
        m("PIDNS", 0x61157326);
        m("BPFMAP_FILE", 0x57506142);
        m("BPFMAP_DATA", 0x64324033);
        m("APPARMOR", 0x59423047);
        m("STATS", 0x57093306);
        m("IRMAP_CACHE", 0x57004059);
        m("KDAT", 0x57023458);
    }

    private static void m(String name, int value) {
        Magic magic = new Magic(name, value);
        BY_NAME.put(name, magic);
        BY_VALUE.put(value, magic);
    }

    /** The magic crit calls {@code name}, if known. */
    public static Optional<Magic> byName(String name) {
        return Optional.ofNullable(BY_NAME.get(name));
    }

    /** The magic with this value, if known. */
    public static Optional<Magic> byValue(int value) {
        return Optional.ofNullable(BY_VALUE.get(value));
    }

    /** Every known magic, in magic.h order. */
    public static Map<String, Magic> all() {
        return Collections.unmodifiableMap(BY_NAME);
    }

    /** The leading magic written before this one: none for inventory, service for stats and irmap-cache. */
    public Optional<Integer> leadingMagic() {
        return switch (name) {
            case "INVENTORY" -> Optional.empty();
            case "STATS", "IRMAP_CACHE" -> Optional.of(IMG_SERVICE);
            default -> Optional.of(IMG_COMMON);
        };
    }
}
