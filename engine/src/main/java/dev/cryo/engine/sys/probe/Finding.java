package dev.cryo.engine.sys.probe;

/**
 * What one probe of the running kernel found.
 *
 * @param present true when the kernel did what the engine needs, exercised for real
 * @param detail  the evidence, or why the feature is missing, in one line
 */
public record Finding(boolean present, String detail) {
    public static Finding yes(String detail) {
        return new Finding(true, detail);
    }

    public static Finding no(String detail) {
        return new Finding(false, detail);
    }
}
