package dev.cryo.engine.resource;

import dev.cryo.engine.dump.DumpOptions;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.proc.ProcFs;

import java.util.List;

/**
 * What fd kinds see while dumping.
 *
 * @param otherHolders pids (besides the target) to look for shared resources in
 */
public record FdDumpContext(int pid, ProcFs proc, DumpOptions options, Log log, List<Integer> otherHolders) {
}
