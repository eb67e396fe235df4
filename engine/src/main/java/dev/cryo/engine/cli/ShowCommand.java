package dev.cryo.engine.cli;

import dev.cryo.image.CritJson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code cryo show FILE|DIR}: crit's {@code show} (decode --pretty) for one image; for a dump directory,
 * one JSON object mapping each image file to its decoded form, with raw page files counted, not dumped.
 */
@Command(name = "show", description = {"Print an image, or every image in a dump directory, as crit-style JSON.",
        "pages-N.img files are summarised by their page count."})
final class ShowCommand implements CryoCommand {
    private static final long PAGE = 4096;

    @Parameters(paramLabel = "FILE|DIR", description = "an image file or a dump directory")
    String in;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help")
    boolean help;

    @Override
    public int run(Session session) throws IOException {
        Path path = Path.of(in);
        if (!Files.exists(path)) {
            throw new NoSuchFileException(in);
        }
        session.out.println(Files.isDirectory(path) ? directory(path) : image(path));
        return 0;
    }

    private static String image(Path file) throws IOException {
        return CritJson.toJson(ImageCommands.decode(file.toString(), Files.readAllBytes(file)));
    }

    private static String directory(Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> Files.isRegularFile(p) && isImage(p.getFileName().toString())).sorted().forEach(files::add);
        }
        if (files.isEmpty()) {
            throw new NoSuchFileException(dir.toString(), null, "no image files in this directory");
        }
        StringBuilder b = new StringBuilder("{\n");
        for (int i = 0; i < files.size(); i++) {
            Path f = files.get(i);
            String name = f.getFileName().toString();
            String body = isRawPages(name) ? "{\n    \"raw_pages\": " + Files.size(f) / PAGE + "\n}" : image(f);
            b.append("    \"").append(name).append("\": ").append(CompactJson.nest(body, 4));
            b.append(i + 1 < files.size() ? ",\n" : "\n");
        }
        return b.append('}').toString();
    }

    /** Names CRIU gives its images: *.img, and the service files without the suffix. */
    static boolean isImage(String name) {
        return name.endsWith(".img") || name.equals("stats-dump") || name.equals("stats-restore")
                || name.equals("irmap-cache");
    }

    static boolean isRawPages(String name) {
        return name.startsWith("pages-") && name.endsWith(".img");
    }
}
