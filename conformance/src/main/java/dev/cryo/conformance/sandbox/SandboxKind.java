package dev.cryo.conformance.sandbox;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/** The kinds of sandbox a case can run in. */
public enum SandboxKind {
    NATIVE {
        @Override
        public Optional<String> unavailableReason() {
            return NativeSandbox.unavailableReason();
        }

        @Override
        public Sandbox create(SandboxSetup setup) {
            return new NativeSandbox(setup);
        }
    },
    DOCKER {
        @Override
        public Optional<String> unavailableReason() {
            return DockerSandbox.unavailableReason();
        }

        @Override
        public Sandbox create(SandboxSetup setup) {
            return new DockerSandbox(setup);
        }
    },
    VAGRANT {
        @Override
        public Optional<String> unavailableReason() {
            return VagrantSandbox.unavailableReason();
        }

        @Override
        public Sandbox create(SandboxSetup setup) {
            return new VagrantSandbox(setup.repo());
        }
    };

    /** Why this kind cannot run here (a skip reason), or empty when it can. */
    public abstract Optional<String> unavailableReason();

    public abstract Sandbox create(SandboxSetup setup);

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static SandboxKind parse(String name) {
        return Arrays.stream(values()).filter(k -> k.label().equals(name.strip().toLowerCase(Locale.ROOT)))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown sandbox '" + name
                        + "': use native, docker or vagrant"));
    }
}
