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
            return new VagrantSandbox(setup);
        }
    };

    /** Why this kind cannot run here (a skip reason), or empty when it can. */
    public abstract Optional<String> unavailableReason();

    public abstract Sandbox create(SandboxSetup setup);

    /**
     * How many times longer than on this machine a step may take in this kind: the VM runs on qemu's TCG where
     * there is no KVM (this machine is itself a guest without nested virtualisation), several times slower.
     */
    public int slowdown() {
        return this == VAGRANT ? (QemuVm.kvm() ? 2 : 6) : 1;
    }

    /**
     * The dirty-page tracker Cryo's incremental dumps must arm here, where the kernel is known: Debian 12's 6.1 in
     * the VM has soft-dirty and no {@code PAGEMAP_SCAN} (so no uffd-wp tracker). Elsewhere, whatever the host has.
     */
    public Optional<String> expectedTracker() {
        return this == VAGRANT ? Optional.of("soft-dirty") : Optional.empty();
    }

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
