package dev.cryo.engine.cli;

import dev.cryo.image.CritJson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code cryo decode}: crit's decode, binary image to JSON. */
@Command(name = "decode", description = "Convert an image to crit-style JSON (stdin to stdout unless -i/-o).")
final class DecodeCommand implements CryoCommand {
    @Option(names = {"-i", "--in"}, paramLabel = "FILE", description = "image to decode (stdin by default)")
    String in;

    @Option(names = {"-o", "--out"}, paramLabel = "FILE", description = "where to write the JSON (stdout by default)")
    String out;

    @Option(names = "--pretty", description = "indented, with hex, flag and device fields spelled out as crit does")
    boolean pretty;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help")
    boolean help;

    @Override
    public int run(Session session) throws IOException {
        byte[] data = ImageCommands.input(in, session);
        String json = CritJson.toJson(ImageCommands.decode(ImageCommands.inputName(in), data), pretty);
        if (out == null || out.equals("-")) {
            session.out.println(json); // crit ends stdout, and only stdout, with a newline
        } else {
            Files.writeString(Path.of(out), json, StandardCharsets.UTF_8);
        }
        return 0;
    }
}
