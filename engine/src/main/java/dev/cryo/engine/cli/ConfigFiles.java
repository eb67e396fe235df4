package dev.cryo.engine.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CRIU's configuration files: {@code /etc/criu/default.conf}, {@code ~/.criu/default.conf}, the file
 * {@code CRIU_CONFIG_FILE} names, then {@code --config FILE}, each read before the command line, which wins.
 * {@code --no-default-config} skips the first two. One option per line, without its dashes ({@code tcp-established},
 * {@code log-file dump.log}); {@code #} starts a comment; a value may be quoted.
 */
final class ConfigFiles {
    static final List<Path> DEFAULTS = List.of(Path.of("/etc/criu/default.conf"),
            Path.of(System.getProperty("user.home", "/root"), ".criu", "default.conf"));

    private ConfigFiles() {
    }

    /** {@code args} with the options of every configuration file in force put before them. */
    static String[] expand(String[] args) throws UsageError {
        boolean noDefaults = false;
        String given = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--")) {
                break;
            }
            if (a.equals("--no-default-config")) {
                noDefaults = true;
            } else if (a.equals("--config") && i + 1 < args.length) {
                given = args[++i];
            } else if (a.startsWith("--config=")) {
                given = a.substring("--config=".length());
            }
        }
        List<String> front = new ArrayList<>();
        if (!noDefaults) {
            for (Path p : DEFAULTS) {
                if (Files.isRegularFile(p)) {
                    front.addAll(read(p));
                }
            }
        }
        String env = System.getenv("CRIU_CONFIG_FILE");
        if (env != null && !env.isEmpty()) {
            front.addAll(read(Path.of(env)));
        }
        if (given != null) {
            front.addAll(read(Path.of(given)));
        }
        if (front.isEmpty()) {
            return args;
        }
        List<String> all = new ArrayList<>(front);
        all.addAll(List.of(args));
        return all.toArray(String[]::new);
    }

    /** The options one file holds, as command-line arguments. */
    static List<String> read(Path file) throws UsageError {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new UsageError("cannot read configuration file " + file + ": " + dev.cryo.engine.CryoException.reason(e));
        }
        List<String> out = new ArrayList<>();
        for (String line : lines) {
            List<String> words = words(line);
            if (words.isEmpty()) {
                continue;
            }
            String option = words.get(0);
            out.add(option.startsWith("-") ? option : "--" + option);
            if (words.size() > 1) {
                out.add(String.join(" ", words.subList(1, words.size())));
            }
        }
        return out;
    }

    private static List<String> words(String line) {
        List<String> words = new ArrayList<>();
        int i = 0;
        while (i < line.length()) {
            char c = line.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '#') {
                break;
            } else if (c == '"') {
                int end = line.indexOf('"', i + 1);
                end = end < 0 ? line.length() : end;
                words.add(line.substring(i + 1, end));
                i = end + 1;
            } else {
                int end = i;
                while (end < line.length() && !Character.isWhitespace(line.charAt(end))) {
                    end++;
                }
                words.add(line.substring(i, end));
                i = end;
            }
        }
        return words;
    }
}
