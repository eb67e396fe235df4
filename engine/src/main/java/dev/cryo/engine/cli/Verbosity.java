package dev.cryo.engine.cli;

/**
 * CRIU's {@code -v} rules. {@code -v} takes an optional argument that must be attached:
 * no argument adds one level; an argument starting with 'v' ({@code -vvv}) adds one level per 'v' in the
 * whole option; any other argument is read with C's {@code atoi}, so {@code -v4} sets 4 and
 * {@code -verbosity=0}, which is {@code -v} with the argument "erbosity=0", sets 0.
 * {@code --verbosity} and {@code --verbosity=N} follow the same rules.
 */
final class Verbosity {
    /** CRIU's default: errors and warnings. */
    static final int DEFAULT = 2;

    private Verbosity() {
    }

    /** The level after one {@code -v} with {@code argument} (null when none was attached). */
    static int apply(int level, String argument) {
        if (argument == null) {
            return level + 1;
        }
        if (argument.startsWith("v")) {
            return level + argument.length() + 1;
        }
        return atoi(argument);
    }

    /** C's atoi: optional blanks and sign, then digits up to the first non-digit; no digits give 0. */
    static int atoi(String s) {
        int i = 0, n = s.length();
        while (i < n && (s.charAt(i) == ' ' || (s.charAt(i) >= '\t' && s.charAt(i) <= '\r'))) {
            i++;
        }
        boolean negative = false;
        if (i < n && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
            negative = s.charAt(i) == '-';
            i++;
        }
        long value = 0;
        while (i < n && Character.isDigit(s.charAt(i)) && s.charAt(i) < 128) {
            value = Math.min(value * 10 + (s.charAt(i) - '0'), Integer.MAX_VALUE);
            i++;
        }
        return (int) (negative ? -value : value);
    }
}
