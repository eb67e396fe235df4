package dev.cryo.engine.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * For tests of failures: needs root with ptrace, and after each test no child of this JVM is left alive that
 * was not there before it (no helper, no half-built process); clears any injected fault step.
 */
public final class NoProcessLeftBehind implements BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(NoProcessLeftBehind.class);

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        Privileges.assumeRootWithPtrace();
        context.getStore(NS).put("children", ProcessHandle.current().children().count());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        System.clearProperty("cryo.fault.step");
        Long before = context.getStore(NS).get("children", Long.class);
        if (before != null) {
            assertEquals(before.longValue(), ProcessHandle.current().children().filter(ProcessHandle::isAlive).count(),
                    "no helper or half-built process remains");
        }
    }
}
