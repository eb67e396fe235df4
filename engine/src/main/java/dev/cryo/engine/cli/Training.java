package dev.cryo.engine.cli;

import dev.cryo.engine.dump.Warmup;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.sys.LibC;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.CritJson;
import dev.cryo.image.ImageFile;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * {@code cryo __train}: loads the classes a run of any command needs, so that {@code bin/cryo} can archive
 * them once per build (class data sharing) and later runs start without parsing and verifying them.
 * Touches nothing outside this process and the helper it rehearses a dump on; prints nothing.
 */
@Command(name = "__train", hidden = true)
final class Training implements CryoCommand {
    /**
     * Cryo's own classes are all loaded, so that whichever the engine needs is in the archive; libraries only
     * as far as the runs above use them: the archive's size costs every start (picocli and ASM cannot be
     * archived anyway: their class files predate Java 6).
     */
    private static final String[] PACKAGES = {"dev/cryo/engine/"};

    private static final String SAMPLE = "{\"magic\": \"PSTREE\", \"entries\": [{\"pid\": 1, \"ppid\": 0, "
            + "\"pgid\": 1, \"sid\": 1, \"threads\": [1]}]}";

    @Override
    public int run(Session session) throws IOException {
        PrintStream sink = new PrintStream(OutputStream.nullOutputStream());
        for (String name : new String[]{"dump", "pre-dump", "restore", "check", "show", "decode", "encode"}) {
            Main.run(new String[]{name, "--help"}, sink, sink, session.in);
            Main.run(new String[]{name, "-v4", "--no-such-option"}, sink, sink, session.in);
        }
        for (String name : new String[]{"dump", "pre-dump", "restore"}) { // the quick reader, up to the images dir
            Main.run(new String[]{name, "-t", "1", "-D", "/nonexistent/cryo-training", "-o", "x.log", "-v4"}, sink,
                    sink, session.in);
        }
        try (Log log = Log.discard()) {
            log.info("warming %d", 1);
        }
        LibC.INSTANCE.syscall(39, 0, 0, 0, 0, 0, 0); // getpid: binds the native library as every engine run does
        sink.println(SyscallException.describe(2)); // errno names
        ImageFile image = CritJson.fromJson(SAMPLE, "sample");
        sink.println(CritJson.toJson(ImageFile.read("sample", image.toBytes())));
        Warmup.train(); // a real dump of a helper: the classes a dump loads beyond Cryo's own (protobuf, JNR, NIO)
        loadAll(sink);
        return 0;
    }

    /** Loads (without initialising) every class of the packages above from the jar this class came from. */
    private static void loadAll(PrintStream sink) throws IOException {
        Path jar;
        try {
            jar = Path.of(Training.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException | SecurityException e) {
            return;
        }
        if (!Files.isRegularFile(jar)) {
            return; // classes from a directory (tests): nothing to archive
        }
        ClassLoader loader = Training.class.getClassLoader();
        int loaded = 0;
        try (JarFile file = new JarFile(jar.toFile())) {
            for (Enumeration<JarEntry> e = file.entries(); e.hasMoreElements(); ) {
                String entry = e.nextElement().getName();
                if (!entry.endsWith(".class") || entry.contains("-") || !wanted(entry)) {
                    continue;
                }
                try {
                    Class.forName(entry.substring(0, entry.length() - 6).replace('/', '.'), false, loader);
                    loaded++;
                } catch (Throwable unloadable) {
                    // optional dependencies absent from the jar: those classes are never used
                }
            }
        }
        sink.println(loaded);
    }

    private static boolean wanted(String entry) {
        for (String p : PACKAGES) {
            if (entry.startsWith(p)) {
                return true;
            }
        }
        return false;
    }
}
