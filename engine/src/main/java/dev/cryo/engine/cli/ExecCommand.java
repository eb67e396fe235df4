package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code restore --exec-cmd -- CMD ARGS}: once the tree runs, cryo's own process becomes CMD (execve), so the
 * restored root, cryo's child, is CMD's child and CMD can wait for it, as with CRIU.
 */
final class ExecCommand {
    private static final int EXECVE = 59;

    private ExecCommand() {
    }

    /** Replaces this process with {@code command}; returns only by throwing, with why it could not. */
    static void exec(List<String> command, Log log) throws CryoException {
        String file = find(command.get(0));
        if (file == null) {
            throw new CryoException("the tree runs, but --exec-cmd " + command.get(0) + " was not found (PATH)");
        }
        log.info("Executing %s (--exec-cmd)", String.join(" ", command));
        log.close();
        List<String> env = new ArrayList<>();
        for (Map.Entry<String, String> e : System.getenv().entrySet()) {
            env.add(e.getKey() + "=" + e.getValue());
        }
        List<NativeBuffer> keep = new ArrayList<>();
        NativeBuffer path = cString(file, keep);
        NativeBuffer argv = vector(command, keep);
        NativeBuffer envp = vector(env, keep);
        try {
            Syscall.call("execve(" + file + ")", EXECVE, path.address(), argv.address(), envp.address());
        } catch (SyscallException e) {
            throw new CryoException("the tree runs, but --exec-cmd " + file + " failed: " + e.getMessage(), e);
        }
        java.lang.ref.Reference.reachabilityFence(keep);
    }

    private static String find(String name) {
        if (name.contains("/")) {
            return Files.isExecutable(Path.of(name)) ? Path.of(name).toAbsolutePath().toString() : null;
        }
        String path = System.getenv().getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin");
        for (String dir : path.split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p.toAbsolutePath().toString();
            }
        }
        return null;
    }

    private static NativeBuffer cString(String s, List<NativeBuffer> keep) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        NativeBuffer buf = NativeBuffer.allocate(b.length + 1);
        buf.put(0, java.util.Arrays.copyOf(b, b.length + 1));
        keep.add(buf);
        return buf;
    }

    private static NativeBuffer vector(List<String> strings, List<NativeBuffer> keep) {
        NativeBuffer v = NativeBuffer.allocate(8 * (strings.size() + 1));
        for (int i = 0; i < strings.size(); i++) {
            v.putLong(8 * i, cString(strings.get(i), keep).address());
        }
        v.putLong(8 * strings.size(), 0);
        keep.add(v);
        return v;
    }
}
