package dev.cryo.engine.cli;

/** The {@code cryo} command. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.err.println("cryo: the command line is not built yet");
        System.exit(1);
    }
}
