package dev.cryo.engine.mem;

import dev.cryo.engine.ptrace.RemoteSyscall;

/**
 * A frozen process a tracker works on.
 *
 * @param pid    the process
 * @param remote runs syscalls inside it (it is in a ptrace stop with every signal blocked)
 */
public record TrackedTarget(int pid, RemoteSyscall remote) {
}
