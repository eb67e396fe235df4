package dev.cryo.conformance.run;

/**
 * The engine turned the case down at its first command: {@code text} is the engine's own words,
 * {@code processUntouched} that the fixture still ran afterwards, every task alive and none stopped.
 */
public record Refusal(String text, boolean processUntouched) {
}
