package dev.cryo.engine.resource;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.FileVisitor;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Finds a path for an inode known only by device and number, by walking the directories a process is likely to
 * watch: its cwd, the directories of its open files, then /etc, /tmp and /var. Bounded in depth and in the number
 * of entries looked at, so a miss costs a bounded time.
 */
final class InodeSearch {
    static final int MAX_DEPTH = 8, MAX_ENTRIES = 200_000;

    private InodeSearch() {
    }

    /** A dev_t as fdinfo prints it (the kernel's major << 20 | minor) in the form stat(2) gives st_dev. */
    static long statDev(int kernelDev) {
        long major = kernelDev >>> 20, minor = kernelDev & 0xfffff;
        return (minor & 0xff) | (major << 8) | ((minor & ~0xffL) << 12);
    }

    /** {@code kernelDev} as fdinfo prints it (major << 20 | minor). */
    static String find(FdDumpContext ctx, int kernelDev, long ino) {
        long dev = statDev(kernelDev);
        Set<Path> hints = new LinkedHashSet<>();
        try {
            hints.add(Path.of(ctx.proc().link(ctx.pid(), "cwd")));
        } catch (IOException ignored) {
            // no cwd: the other hints
        }
        try {
            for (var fd : ctx.proc().fds(ctx.pid())) {
                if (fd.isPath() && !fd.target().endsWith(" (deleted)")) {
                    Path p = Path.of(fd.target());
                    hints.add(Files.isDirectory(p) ? p : p.getParent());
                }
            }
        } catch (IOException ignored) {
            // the fixed hints remain
        }
        hints.add(Path.of("/etc"));
        hints.add(Path.of("/tmp"));
        hints.add(Path.of("/var"));
        int[] budget = {MAX_ENTRIES};
        for (Path h : hints) {
            if (h == null) {
                continue;
            }
            String found = walk(h, dev, ino, budget);
            if (found != null) {
                return found;
            }
        }
        return null;
    }

    private static String walk(Path root, long dev, long ino, int[] budget) {
        String[] found = {null};
        try {
            Files.walkFileTree(root, Set.of(), MAX_DEPTH, new FileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                    return check(dir);
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    return check(file);
                }

                private FileVisitResult check(Path p) {
                    if (--budget[0] < 0) {
                        return FileVisitResult.TERMINATE;
                    }
                    try {
                        Object i = Files.getAttribute(p, "unix:ino", LinkOption.NOFOLLOW_LINKS);
                        Object d = Files.getAttribute(p, "unix:dev", LinkOption.NOFOLLOW_LINKS);
                        if (((Long) i) == ino && ((Long) d) == dev) {
                            found[0] = p.toString();
                            return FileVisitResult.TERMINATE;
                        }
                    } catch (IOException | RuntimeException ignored) {
                        // unreadable: skip
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException exc) {
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException exc) {
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException ignored) {
            // not there
        }
        return found[0];
    }
}
