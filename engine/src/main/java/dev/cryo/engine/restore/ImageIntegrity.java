package dev.cryo.engine.restore;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.image.ImageChecksums;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Before a restore touches anything: every directory of the chain (the images and their parents) was written by a
 * dump that finished, and every file its manifest lists still holds what the dump wrote (see
 * {@link ImageChecksums}); the pages images, before any task runs. Images without a manifest (CRIU's, an older
 * Cryo's) are restored as before.
 *
 * <p>The pages images, nearly all of a dump's bytes, only fill memory: they are checked on a thread of their own
 * while the tree is built ({@link Pages}), and the restore waits for that check before any task runs. Everything
 * else (what decides which tasks, files and mappings are made) is checked first.
 */
final class ImageIntegrity {
    private ImageIntegrity() {
    }

    /** Whether {@code name} is a pages image (pages-N.img): memory contents only. */
    static boolean pagesImage(String name) {
        return name.startsWith("pages-") && name.endsWith(".img");
    }

    /** Checks all but the pages images now; returns the check of those, under way. */
    static Pages check(Path images, Log log) throws CryoException {
        if (!Files.isDirectory(images)) {
            return Pages.NONE; // the restore names it
        }
        java.util.List<ImageDir> chain;
        try {
            chain = ImageDir.open(images).chain();
        } catch (IOException e) {
            return Pages.NONE; // the restore reads the chain and reports what is wrong with it
        }
        java.util.List<Path> checked = new java.util.ArrayList<>();
        for (ImageDir d : chain) {
            Path p = d.path();
            if (ImageChecksums.incomplete(p)) {
                throw new CryoException(where(images, p) + "the dump that wrote these images did not finish ("
                        + ImageChecksums.INCOMPLETE + " is there: it failed or was killed); dump again");
            }
            if (!ImageChecksums.present(p)) {
                log.debug("%s has no %s (CRIU's images, or an older Cryo's): restored unchecked", p, ImageChecksums.FILE);
                continue;
            }
            long t0 = System.nanoTime();
            long[] n = verify(images, p, name -> !pagesImage(name), true);
            log.info("Checked %d image files (%d bytes) of %s against %s in %d us; its pages images are checked "
                    + "while the tree is built", n[0], n[1], p, ImageChecksums.FILE, (System.nanoTime() - t0) / 1000);
            checked.add(p);
        }
        return checked.isEmpty() ? Pages.NONE : Pages.start(images, checked, log);
    }

    private static String where(Path images, Path p) {
        return "cannot restore from " + images + (p.equals(images) ? "" : " (its parent images " + p + ")") + ": ";
    }

    private static long[] verify(Path images, Path p, java.util.function.Predicate<String> which, boolean parallel)
            throws CryoException {
        try {
            return ImageChecksums.verify(p, which, parallel);
        } catch (ImageFormatException e) {
            throw new CryoException(where(images, p) + e.getMessage() + "; nothing was restored", e);
        } catch (IOException e) {
            throw new CryoException(where(images, p) + "cannot check the images against " + ImageChecksums.FILE
                    + ": " + e.getMessage(), e);
        }
    }

    /** The check of the pages images of a chain, on a thread of its own. */
    static final class Pages {
        static final Pages NONE = new Pages(null);
        private final java.util.concurrent.CompletableFuture<Void> done;

        private Pages(java.util.concurrent.CompletableFuture<Void> done) {
            this.done = done;
        }

        static Pages start(Path images, java.util.List<Path> dirs, Log log) {
            java.util.concurrent.CompletableFuture<Void> done = new java.util.concurrent.CompletableFuture<>();
            Thread t = new Thread(() -> {
                try {
                    for (Path p : dirs) {
                        long t0 = System.nanoTime();
                        long[] n = verify(images, p, ImageIntegrity::pagesImage, false);
                        log.info("Checked %d pages images (%d bytes) of %s against %s in %d us", n[0], n[1], p,
                                ImageChecksums.FILE, (System.nanoTime() - t0) / 1000);
                    }
                    done.complete(null);
                } catch (CryoException | RuntimeException e) {
                    done.completeExceptionally(e);
                }
            }, "cryo-pages-check");
            t.setDaemon(true);
            t.start();
            return new Pages(done);
        }

        private CryoException found;

        /** Waits for the check; throws what it found wrong (the same exception each time). */
        synchronized void await() throws CryoException {
            if (done == null) {
                return;
            }
            if (found == null) {
                try {
                    done.join();
                    return;
                } catch (java.util.concurrent.CompletionException e) {
                    found = e.getCause() instanceof CryoException c ? c
                            : new CryoException("cannot check the pages images: " + e.getCause(), e.getCause());
                }
            }
            throw found;
        }

        /** What the check found wrong, once it is over (null: nothing, or no check); for a failed restore's message. */
        CryoException failure() {
            try {
                await();
                return null;
            } catch (CryoException e) {
                return e;
            }
        }
    }
}
