package dev.cryo.bench.macro;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A checkpoint tool with CRIU's command line (Cryo's bin/cryo, or a CRIU binary): dump a tree, restore it
 * detached. Both write stats-dump and stats-restore into the images directory, which is where the frozen time
 * comes from.
 *
 * @param name    label in the table ("cryo", "cryo-resident", "criu")
 * @param command the executable and any leading arguments
 * @param env     variables set for its runs (CRYO_RESIDENT=0 keeps bin/cryo from handing off to a resident service)
 */
public record CheckpointTool(String name, List<String> command, java.util.Map<String, String> env) {
    public CheckpointTool(String name, List<String> command) {
        this(name, command, java.util.Map.of());
    }

    /** Bound on one dump or restore; a 1 GiB dump to disk takes seconds, so this only catches hangs. */
    static final long TIMEOUT_SECONDS = 600;

    /** {@code dump -t PID -D DIR -o dump.log -v4}: the target is killed once dumped, as CRIU does by default. */
    public ProcessResult dump(int pid, Path imagesDir) throws IOException {
        return run(imagesDir, "dump.out", "dump", "-t", Integer.toString(pid), "-D", imagesDir.toString(),
                "-o", "dump.log", "-v4");
    }

    /** {@code restore -d -D DIR -o restore.log -v4}: returns once the tree runs. */
    public ProcessResult restore(Path imagesDir) throws IOException {
        return run(imagesDir, "restore.out", "restore", "-d", "-D", imagesDir.toString(), "-o", "restore.log", "-v4");
    }

    /** First line of {@code --version}, or what went wrong asking. */
    public String version() {
        try {
            List<String> cmd = new ArrayList<>(command);
            cmd.add("--version");
            ProcessResult r = ProcessResult.run(cmd, 60, env);
            String first = r.output().strip().split("\n")[0];
            return r.exitCode() == 0 ? first : "unknown (--version: " + r.lastLine() + ")";
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    private ProcessResult run(Path imagesDir, String outputName, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(command);
        cmd.addAll(List.of(args));
        return ProcessResult.run(cmd, TIMEOUT_SECONDS, imagesDir.getParent().resolve(imagesDir.getFileName() + "." + outputName),
                imagesDir.getParent(), env);
    }

    /** The tool's own words for a failure: its last error line on the terminal, else in the log. */
    public static String errorOf(ProcessResult r, Path log) {
        String fromOutput = lastErrorLine(r.output());
        if (fromOutput != null) {
            return fromOutput;
        }
        try {
            if (Files.exists(log)) {
                String fromLog = lastErrorLine(Files.readString(log, StandardCharsets.UTF_8));
                if (fromLog != null) {
                    return fromLog;
                }
            }
        } catch (IOException e) {
            // fall through to the exit code
        }
        return r.exitCode() == -1 ? r.lastLine() : "exit " + r.exitCode() + ": " + r.lastLine();
    }

    private static String lastErrorLine(String text) {
        String found = null;
        for (String line : text.split("\n")) {
            if (line.contains("Error")) {
                // CRIU-style logs start each line with "(SS.ssssss) "
                found = line.strip().replaceFirst("^\\(\\d+\\.\\d+\\)\\s*", "");
            }
        }
        return found;
    }
}
