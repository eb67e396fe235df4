package dev.cryo.engine.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** A command with a bug, to see how the CLI reports what nobody planned for. */
@Command(name = "broken")
final class BrokenCommand implements CryoCommand {
    @Mixin
    CommonOptions common = new CommonOptions();

    @Override
    public int run(Session session) throws dev.cryo.engine.CryoException, UsageError {
        common.openLog(session);
        throw new IllegalStateException("engine bug");
    }
}
