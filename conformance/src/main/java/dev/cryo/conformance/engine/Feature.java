package dev.cryo.conformance.engine;

import java.util.Locale;

/**
 * What a case may need beyond a single-threaded process. An engine declares the ones it does not
 * handle yet as its known gaps; a case declares the ones it needs.
 */
public enum Feature {
    PROCESS_TREES("process trees"),
    THREADS("threads"),
    /** epoll instances (redis, nginx and the JVM's selectors wait on one) */
    EPOLL("epoll"),
    /** eventfd instances (nginx's event loop notifications, JDK 21+ selector wake-ups) */
    EVENTFD("eventfd");

    private final String label;

    Feature(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    @Override
    public String toString() {
        return label;
    }

    public static String labels(java.util.Collection<Feature> features) {
        return String.join(", ", features.stream().sorted().map(Feature::label).toList());
    }

    public static Feature parse(String label) {
        for (Feature f : values()) {
            if (f.label.equals(label.strip().toLowerCase(Locale.ROOT))) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown feature '" + label + "'");
    }
}
