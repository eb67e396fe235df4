package dev.cryo.engine.cli;

/**
 * Python's one-line {@code json.dump} layout (separators ", " and ": "), made from the indented layout crit
 * prints with {@code --pretty}. Strings are copied untouched; only the whitespace between tokens changes.
 */
final class CompactJson {
    private CompactJson() {
    }

    static String of(String indented) {
        StringBuilder b = new StringBuilder(indented.length());
        boolean inString = false;
        for (int i = 0; i < indented.length(); i++) {
            char c = indented.charAt(i);
            if (inString) {
                b.append(c);
                if (c == '\\') {
                    b.append(indented.charAt(++i));
                } else if (c == '"') {
                    inString = false;
                }
                continue;
            }
            switch (c) {
                case '"' -> {
                    inString = true;
                    b.append(c);
                }
                case ' ', '\n', '\r', '\t' -> {
                    // layout only
                }
                case ',' -> b.append(", ");
                case ':' -> b.append(": ");
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    /** Indents every line but the first by {@code spaces}, to nest one indented document in another. */
    static String nest(String indented, int spaces) {
        return indented.replace("\n", "\n" + " ".repeat(spaces));
    }
}
