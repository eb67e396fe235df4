package dev.cryo.conformance.check;

import dev.cryo.conformance.run.Run;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.List;

/**
 * The image set is one CRIU's tools read: crit's decoder ({@code pycriu.images.load}, what
 * {@code crit decode} runs) decodes every image file, and the pages files hold exactly
 * pages_written + shpages_written (from stats-dump) pages.
 */
public final class ImagesSane implements Check {
    static final long PAGE_SIZE = 4096;
    private static final Path PYTHON = Path.of("/usr/bin/python3");
    // one interpreter for the whole directory: crit decode per file would cost a second per image set
    private static final String DECODER = """
            import os, re, sys
            import pycriu.images as images
            d = sys.argv[1]
            errors, written, pages_bytes, decoded = [], None, 0, 0
            for name in sorted(os.listdir(d)):
                path = os.path.join(d, name)
                # image files are *.img, stats-* and irmap-cache; logs and an engine's own files are not
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                if not (name.endswith('.img') or name.startswith('stats-') or name == 'irmap-cache'):
                    continue
                if name.startswith('pages-') and name.endswith('.img'):
                    pages_bytes += os.path.getsize(path)
                    continue
                # a network namespace's raw images: a magic, then another tool's dump (ip addr/route/rule save,
                # iptables-save, nft), which crit does not decode
                if re.match(r'(ifaddr|route6?|rule|ip6?tables|nftables)-[0-9]+[.]img$', name):
                    continue
                try:
                    with open(path, 'rb') as f:
                        img = images.load(f)
                    decoded += 1
                except Exception as e:
                    errors.append('%s: %s %s' % (name, type(e).__name__, e))
                    continue
                if name == 'stats-dump':
                    for entry in img.get('entries', []):
                        if 'dump' in entry:
                            # shared memory's pages (shpages_written) are in pages files too
                            written = int(entry['dump'].get('pages_written', 0)) \
                                + int(entry['dump'].get('shpages_written', 0))
            for e in errors:
                print('error ' + e.replace('\\n', ' '))
            print('pages_written %s' % ('none' if written is None else written))
            print('pages_bytes %d' % pages_bytes)
            print('inventory %s' % os.path.exists(os.path.join(d, 'inventory.img')))
            """;

    @Override
    public String name() {
        return "images";
    }

    @Override
    public void afterDump(Run run, Path imagesDir) throws CheckFailure {
        String where = "cycle " + run.cycle() + " " + imagesDir.getFileName() + ": ";
        List<String> lines = decode(imagesDir, where);
        List<String> errors = lines.stream().filter(l -> l.startsWith("error ")).map(l -> l.substring(6)).toList();
        if (!lines.contains("inventory True")) {
            throw new CheckFailure(name(), where + "no inventory.img: not a CRIU image set");
        }
        if (!errors.isEmpty()) {
            throw new CheckFailure(name(), where + "crit cannot decode " + String.join("; ", errors));
        }
        String written = value(lines, "pages_written");
        if (written.equals("none")) {
            throw new CheckFailure(name(), where + "stats-dump is missing or has no pages_written");
        }
        long pages = Long.parseLong(written);
        long size = Long.parseLong(value(lines, "pages_bytes"));
        if (pages * PAGE_SIZE != size) {
            throw new CheckFailure(name(), where + "stats-dump says " + pages + " pages written (" + pages * PAGE_SIZE
                    + " bytes) but the pages files hold " + size + " bytes");
        }
    }

    private static String value(List<String> lines, String key) {
        return lines.stream().filter(l -> l.startsWith(key + " ")).map(l -> l.substring(key.length() + 1))
                .findFirst().orElse("none");
    }

    private List<String> decode(Path imagesDir, String where) throws CheckFailure {
        if (!Files.isExecutable(Path.of("/usr/bin/crit"))) {
            throw new CheckFailure(name(), "crit is not installed (apt-get install criu): cannot judge the images");
        }
        try {
            Process p = new ProcessBuilder(PYTHON.toString(), "-c", DECODER, imagesDir.toString())
                    .redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new CheckFailure(name(), where + "decoding took longer than 60 s");
            }
            String text = new String(out, StandardCharsets.UTF_8).strip();
            if (p.exitValue() != 0) {
                throw new CheckFailure(name(), where + "the decoder failed: " + text);
            }
            return List.of(text.split("\n"));
        } catch (IOException e) {
            throw new CheckFailure(name(), where + "cannot run the decoder: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckFailure(name(), where + "interrupted");
        }
    }
}
