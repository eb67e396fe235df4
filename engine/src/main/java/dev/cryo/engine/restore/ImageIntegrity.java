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
 * {@link ImageChecksums}). Images without a manifest (CRIU's, an older Cryo's) are restored as before.
 */
final class ImageIntegrity {
    private ImageIntegrity() {
    }

    static void check(Path images, Log log) throws CryoException {
        if (!Files.isDirectory(images)) {
            return; // the restore names it
        }
        java.util.List<ImageDir> chain;
        try {
            chain = ImageDir.open(images).chain();
        } catch (IOException e) {
            return; // the restore reads the chain and reports what is wrong with it
        }
        for (ImageDir d : chain) {
            Path p = d.path();
            String where = "cannot restore from " + images + (p.equals(images) ? "" : " (its parent images " + p + ")")
                    + ": ";
            if (ImageChecksums.incomplete(p)) {
                throw new CryoException(where + "the dump that wrote these images did not finish (" + ImageChecksums.INCOMPLETE
                        + " is there: it failed or was killed); dump again");
            }
            if (!ImageChecksums.present(p)) {
                log.debug("%s has no %s (CRIU's images, or an older Cryo's): restored unchecked", p, ImageChecksums.FILE);
                continue;
            }
            long t0 = System.nanoTime();
            try {
                long[] n = ImageChecksums.verify(p);
                log.info("Checked %d image files (%d bytes) of %s against %s in %d us", n[0], n[1], p,
                        ImageChecksums.FILE, (System.nanoTime() - t0) / 1000);
            } catch (ImageFormatException e) {
                throw new CryoException(where + e.getMessage() + "; nothing was restored", e);
            } catch (IOException e) {
                throw new CryoException(where + "cannot check the images against " + ImageChecksums.FILE + ": "
                        + e.getMessage(), e);
            }
        }
    }
}
