package dev.cryo.conformance.cases;

import java.util.List;

/**
 * Between two pre-dumps: first the {@code vmaChanges} (mmap, munmap, mprotect, mremap), then rewrite
 * {@code pages} pages of the memory fixture, chosen by a PRNG seeded with {@code seed}.
 */
public record PageWrite(int pages, long seed, List<VmaChange> vmaChanges) {
    public PageWrite {
        vmaChanges = List.copyOf(vmaChanges);
    }

    public PageWrite(int pages, long seed) {
        this(pages, seed, List.of());
    }

    public PageWrite withoutVmaChange(int index) {
        List<VmaChange> rest = new java.util.ArrayList<>(vmaChanges);
        rest.remove(index);
        return new PageWrite(pages, seed, rest);
    }

    public PageWrite withoutVmaChanges() {
        return new PageWrite(pages, seed);
    }

    @Override
    public String toString() {
        return vmaChanges.isEmpty() ? pages + "@" + seed
                : String.join("+", vmaChanges.stream().map(VmaChange::toString).toList()) + "+" + pages + "@" + seed;
    }
}
