package dev.cryo.engine.testing;

import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * The tests of a class that dump and restore real processes: they run as root (CAP_SYS_PTRACE, CAP_SYS_ADMIN) and
 * are skipped otherwise, with the reason printed ({@link Privileges#assumeRootWithPtrace()} before each).
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(RootWithPtrace.Check.class)
public @interface RootWithPtrace {
    /** The check before each test. */
    final class Check implements BeforeEachCallback {
        @Override
        public void beforeEach(ExtensionContext context) throws Exception {
            Privileges.assumeRootWithPtrace();
        }
    }
}
