package dev.cryo.engine.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The first pass over the arguments, the way CRIU's getopt sees them: it finds the command (the first
 * argument that is neither an option nor an option's value, so options may come before it) and takes out
 * every {@code -v}/{@code --verbosity}, whose attached-argument rules picocli cannot express.
 *
 * @param command   the command word, or null when there is none
 * @param arguments everything else, in order, for picocli
 * @param verbosity the log level the {@code -v} options give, starting from CRIU's default 2
 */
record CommandLineScan(String command, List<String> arguments, int verbosity) {
    /** Short options whose value is attached or the next argument. */
    private static final String SHORT_WITH_VALUE = "tDoWirJLM";
    /** Short options with an optional attached value, as {@code -x[ids]}. */
    private static final String SHORT_WITH_ATTACHED_VALUE = "x";
    static final Set<String> LONG_WITH_VALUE = longWithValue();

    private static Set<String> longWithValue() {
        Set<String> names = new java.util.HashSet<>(Set.of("tree", "images-dir", "log-file", "work-dir",
                "pidfile", "prev-images-dir", "timeout", "pre-dump-mode", "feature", "in", "out"));
        for (QuickParse.Opt o : CriuOptions.QUICK) {
            if (o.kind() == QuickParse.Kind.VALUE) {
                names.addAll(List.of(o.names()));
            }
        }
        return Set.copyOf(names);
    }

    static CommandLineScan of(String... args) {
        String command = null;
        List<String> rest = new ArrayList<>();
        int level = Verbosity.DEFAULT;
        boolean optionsEnded = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (optionsEnded || a.equals("-") || !a.startsWith("-")) {
                if (command == null && !optionsEnded) {
                    command = a;
                } else {
                    rest.add(a);
                }
                continue;
            }
            if (a.equals("--")) {
                optionsEnded = true;
                rest.add(a);
                continue;
            }
            if (a.startsWith("--")) {
                int eq = a.indexOf('=');
                String name = a.substring(2, eq < 0 ? a.length() : eq);
                if (name.equals("verbosity")) {
                    level = Verbosity.apply(level, eq < 0 ? null : a.substring(eq + 1));
                    continue;
                }
                rest.add(a);
                if (eq < 0 && LONG_WITH_VALUE.contains(name) && i + 1 < args.length) {
                    rest.add(args[++i]);
                }
                continue;
            }
            // a cluster of short options, read as getopt does: an option with a value ends the cluster
            StringBuilder kept = new StringBuilder("-");
            boolean valueFollows = false;
            for (int j = 1; j < a.length(); j++) {
                char c = a.charAt(j);
                String attached = j + 1 < a.length() ? a.substring(j + 1) : null;
                if (c == 'v') {
                    level = Verbosity.apply(level, attached);
                    break;
                }
                kept.append(c);
                if (SHORT_WITH_VALUE.indexOf(c) >= 0 || SHORT_WITH_ATTACHED_VALUE.indexOf(c) >= 0) {
                    if (attached != null) {
                        kept.append(attached);
                    } else {
                        valueFollows = SHORT_WITH_VALUE.indexOf(c) >= 0;
                    }
                    break;
                }
            }
            if (kept.length() > 1) {
                rest.add(kept.toString());
            }
            if (valueFollows && i + 1 < args.length) {
                rest.add(args[++i]);
            }
        }
        return new CommandLineScan(command, List.copyOf(rest), level);
    }
}
