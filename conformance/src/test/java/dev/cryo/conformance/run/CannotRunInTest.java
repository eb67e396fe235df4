package dev.cryo.conformance.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cryo.conformance.cases.AppCases;
import dev.cryo.conformance.cases.Case;
import dev.cryo.conformance.sandbox.SandboxKind;

import java.util.List;
import org.junit.jupiter.api.Test;

/** An app whose unix socket is in the case's work directory runs wherever that directory can hold one. */
class CannotRunInTest {
    @Test
    void appsWithASocketInTheirWorkDirAreSkippedInTheVmOnly() {
        List<String> skipped = AppCases.all().stream()
                .filter(c -> CaseRunner.cannotRunIn(c, SandboxKind.VAGRANT).isPresent()).map(Case::name).toList();
        assertEquals(List.of("apps-postgres", "apps-tmux"), skipped);
        for (Case c : AppCases.all()) {
            assertTrue(CaseRunner.cannotRunIn(c, SandboxKind.NATIVE).isEmpty(), c.name());
            assertTrue(CaseRunner.cannotRunIn(c, SandboxKind.DOCKER).isEmpty(), c.name());
        }
    }
}
