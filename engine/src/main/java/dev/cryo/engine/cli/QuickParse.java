package dev.cryo.engine.cli;

import java.util.List;

/**
 * A getopt-style reader of the command lines dump, pre-dump, restore and check get on every run. picocli builds its
 * model by reflection at every start (some 70 to 100 ms of a cold JVM, with class files CDS cannot archive);
 * this reader needs a table and a switch. It accepts only plain, valid lines; on anything else (help,
 * version, an unknown or malformed option, a positional argument) it declines, and the line goes to picocli,
 * which stays the definition of the commands, their help and their error messages. Tests hold the tables
 * to picocli's model and both readers to the same result.
 */
final class QuickParse {
    /** How an option takes its value. */
    enum Kind {
        /** On when present. */
        FLAG,
        /** On when present, off as {@code --no-NAME}. */
        NEGATABLE,
        /** Needs a value: attached ({@code -t5}, {@code --tree=5}) or the next argument. */
        VALUE,
        /** Takes a value only when attached ({@code -xIDS}, {@code --ext-unix-sk=IDS}). */
        OPTIONAL_VALUE
    }

    /**
     * One option.
     *
     * @param shortName its one-letter name, or 0
     * @param names     its long names without "--"; the first is the key handed to the command
     */
    record Opt(char shortName, Kind kind, String... names) {
        String key() {
            return names[0];
        }
    }

    /**
     * A command that takes options by key (the first long name): "true"/"false" for flags, the text for values,
     * "" for an optional value that was not given.
     */
    interface Target {
        List<Opt> quickOptions();

        void set(String key, String value);
    }

    private QuickParse() {
    }

    static List<Opt> with(List<Opt> common, Opt... own) {
        List<Opt> all = new java.util.ArrayList<>(List.of(own));
        all.addAll(common);
        return List.copyOf(all);
    }

    static List<Opt> join(List<Opt> a, List<Opt> b) {
        List<Opt> all = new java.util.ArrayList<>(a);
        all.addAll(b);
        return List.copyOf(all);
    }

    /** Applies {@code args} to {@code target}; false, part-way or not, when the line is picocli's to read. */
    static boolean parse(List<String> args, Target target) {
        List<Opt> table = target.quickOptions();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.startsWith("--")) {
                int eq = a.indexOf('=');
                String name = a.substring(2, eq < 0 ? a.length() : eq);
                String attached = eq < 0 ? null : a.substring(eq + 1);
                Opt opt = byLong(table, name);
                boolean negated = false;
                if (opt == null && name.startsWith("no-")) {
                    opt = byLong(table, name.substring(3));
                    negated = opt != null;
                    if (negated && opt.kind() != Kind.NEGATABLE) {
                        return false;
                    }
                }
                if (opt == null) {
                    return false;
                }
                switch (opt.kind()) {
                    case FLAG, NEGATABLE -> {
                        if (attached != null) {
                            return false;
                        }
                        target.set(opt.key(), negated ? "false" : "true");
                    }
                    case VALUE -> {
                        if (attached == null) {
                            if (i + 1 >= args.size() || args.get(i + 1).startsWith("-")) {
                                return false; // picocli decides whether "-x" is a value or an option
                            }
                            attached = args.get(++i);
                        }
                        target.set(opt.key(), attached);
                    }
                    case OPTIONAL_VALUE -> target.set(opt.key(), attached == null ? "" : attached);
                }
            } else if (a.startsWith("-") && a.length() > 1) {
                for (int j = 1; j < a.length(); j++) {
                    Opt opt = byShort(table, a.charAt(j));
                    if (opt == null) {
                        return false;
                    }
                    String rest = a.substring(j + 1);
                    if (opt.kind() == Kind.FLAG || opt.kind() == Kind.NEGATABLE) {
                        target.set(opt.key(), "true");
                        continue;
                    }
                    if (opt.kind() == Kind.OPTIONAL_VALUE) {
                        target.set(opt.key(), rest);
                    } else if (!rest.isEmpty()) {
                        target.set(opt.key(), rest);
                    } else if (i + 1 < args.size() && !args.get(i + 1).startsWith("-")) {
                        target.set(opt.key(), args.get(++i));
                    } else {
                        return false;
                    }
                    break;
                }
            } else {
                return false; // positional arguments, "-" and "--": none of these commands takes them
            }
        }
        return true;
    }

    private static Opt byLong(List<Opt> table, String name) {
        for (Opt o : table) {
            for (String n : o.names()) {
                if (n.equals(name)) {
                    return o;
                }
            }
        }
        return null;
    }

    private static Opt byShort(List<Opt> table, char c) {
        for (Opt o : table) {
            if (o.shortName() == c) {
                return o;
            }
        }
        return null;
    }
}
