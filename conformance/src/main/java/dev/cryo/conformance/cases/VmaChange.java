package dev.cryo.conformance.cases;

import java.util.Locale;

/** A change to the memory fixture's mappings, its target chosen by a PRNG seeded with {@code seed}. */
public record VmaChange(Kind kind, long seed) {

    /** The fixture's commands that change its VMAs (see fixtures-c/src/memory.c). */
    public enum Kind {
        MMAP, MUNMAP, MPROTECT, MREMAP;

        public String verb() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The fixture's command line (without its sequence number). */
    public String command() {
        return kind.verb() + " " + seed;
    }

    @Override
    public String toString() {
        return kind.verb() + "@" + seed;
    }
}
