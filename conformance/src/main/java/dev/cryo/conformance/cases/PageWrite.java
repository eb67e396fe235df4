package dev.cryo.conformance.cases;

/** Rewrite {@code pages} pages of the memory fixture, chosen by a PRNG seeded with {@code seed}. */
public record PageWrite(int pages, long seed) {
    @Override
    public String toString() {
        return pages + "@" + seed;
    }
}
