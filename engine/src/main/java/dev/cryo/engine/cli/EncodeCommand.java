package dev.cryo.engine.cli;

import dev.cryo.image.CritJson;
import dev.cryo.image.ImageFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code cryo encode}: crit's encode, JSON back to a binary image. */
@Command(name = "encode", description = "Convert crit-style JSON to a binary image (stdin to stdout unless -i/-o).")
final class EncodeCommand implements CryoCommand {
    @Option(names = {"-i", "--in"}, paramLabel = "FILE", description = "JSON to encode (stdin by default)")
    String in;

    @Option(names = {"-o", "--out"}, paramLabel = "FILE", description = "where to write the image (stdout by default)")
    String out;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help")
    boolean help;

    @Override
    public int run(Session session) throws IOException {
        String json = new String(ImageCommands.input(in, session), StandardCharsets.UTF_8);
        ImageFile image = CritJson.fromJson(json, ImageCommands.inputName(in));
        byte[] bytes = image.toBytes();
        if (out == null || out.equals("-")) {
            session.out.write(bytes);
            session.out.flush();
        } else {
            Files.write(Path.of(out), bytes);
        }
        return 0;
    }
}
