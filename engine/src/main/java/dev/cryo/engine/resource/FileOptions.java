package dev.cryo.engine.resource;

import java.util.List;

/**
 * CRIU's options about files, as dump and restore were given them. Kept together so that the resources that act
 * on them (ghost files, link remaps, locks, inherited fds, external files) read one record from the run's options.
 *
 * @param fileLocks        -l/--file-locks: dump and restore file locks (flock, POSIX, OFD); refused without it
 * @param linkRemap        --link-remap: an open file that was unlinked may be linked back under a new name
 * @param ghostLimit       --ghost-limit: the largest deleted file whose contents go into the images, in bytes
 * @param ghostFiemap      --ghost-fiemap: copy deleted files' contents by their extents (holes stay holes)
 * @param inheritFds       --inherit-fd fd[N]:RES, in the order given
 * @param external         --external RES, in the order given (file[mnt_id:inode], tty[rdev:dev], unix[ino], ...)
 * @param evasiveDevices   --evasive-devices: a device file may be reopened through any path to the same device
 * @param fileValidation   --file-validation: "filesize" or "buildid" (CRIU's default), how restore checks files
 * @param skipFileRwxCheck --skip-file-rwx-check: restore does not compare a file's permission bits with the image
 * @param forceIrmap       --force-irmap: resolve inotify/fanotify watch paths even where a handle would do
 * @param irmapScanPaths   --irmap-scan-path, where to look for the paths of watched inodes
 */
public record FileOptions(
        boolean fileLocks,
        boolean linkRemap,
        long ghostLimit,
        boolean ghostFiemap,
        List<InheritFd> inheritFds,
        List<String> external,
        boolean evasiveDevices,
        String fileValidation,
        boolean skipFileRwxCheck,
        boolean forceIrmap,
        List<String> irmapScanPaths) {
    /** CRIU's default --ghost-limit: 1 MiB. */
    public static final long DEFAULT_GHOST_LIMIT = 1L << 20;

    /** The options when none is given, as CRIU's defaults. */
    public static final FileOptions DEFAULTS = new FileOptions(false, false, DEFAULT_GHOST_LIMIT, false, List.of(),
            List.of(), false, "buildid", false, false, List.of());

    public FileOptions {
        inheritFds = List.copyOf(inheritFds);
        external = List.copyOf(external);
        irmapScanPaths = List.copyOf(irmapScanPaths);
    }

    /** The same options with {@code more} external resources (CRIU's {@code --ext-unix-sk=INO}: {@code unix[INO]}). */
    public FileOptions withExternal(List<String> more) {
        if (more.isEmpty()) {
            return this;
        }
        List<String> all = new java.util.ArrayList<>(external);
        all.addAll(more);
        return new FileOptions(fileLocks, linkRemap, ghostLimit, ghostFiemap, inheritFds, all, evasiveDevices,
                fileValidation, skipFileRwxCheck, forceIrmap, irmapScanPaths);
    }

    /** {@code unix[INO]} for each inode of CRIU's {@code --ext-unix-sk=INO[,INO...]} (none for a bare flag). */
    public static List<String> unixInodes(String extUnixSk) {
        List<String> out = new java.util.ArrayList<>();
        if (extUnixSk != null) {
            for (String ino : extUnixSk.split(",")) {
                if (!ino.isBlank()) {
                    out.add("unix[" + ino.trim() + "]");
                }
            }
        }
        return out;
    }

    /**
     * One {@code --inherit-fd fd[N]:RES}: the restored tree's fd that stands for {@code resource} is taken from
     * the restorer's own fd {@code fd} instead of being opened.
     *
     * @param fd       the restorer's fd number
     * @param resource what it stands for, as CRIU writes it: {@code pipe:[INO]}, {@code socket:[INO]},
     *                 {@code tty[rdev:dev]}, {@code file[mnt_id:inode]}, {@code /memfd:NAME} or a path
     */
    public record InheritFd(int fd, String resource) {
        /** Parses CRIU's {@code fd[N]:RES}; null when the text is not of that form. */
        public static InheritFd parse(String text) {
            if (!text.startsWith("fd[")) {
                return null;
            }
            int close = text.indexOf("]:");
            if (close < 0 || close + 2 >= text.length()) {
                return null;
            }
            try {
                int fd = Integer.parseInt(text.substring(3, close));
                return fd < 0 ? null : new InheritFd(fd, text.substring(close + 2));
            } catch (NumberFormatException e) {
                return null;
            }
        }
    }
}
