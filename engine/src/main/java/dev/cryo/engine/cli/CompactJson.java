package dev.cryo.engine.cli;

/** Layout helpers for crit-style JSON documents. */
final class CompactJson {
    private CompactJson() {
    }

    /** Indents every line but the first by {@code spaces}, to nest one indented document in another. */
    static String nest(String indented, int spaces) {
        return indented.replace("\n", "\n" + " ".repeat(spaces));
    }
}
