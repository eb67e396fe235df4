package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;

import java.io.IOException;

/** A subcommand, parsed by picocli into its fields, then run. */
interface CryoCommand {
    /**
     * Runs the command.
     *
     * @return the process's exit status
     */
    int run(Session session) throws CryoException, UsageError, IOException;
}
