package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CRIU's {@code --action-script}: each script runs at each stage with {@code CRTOOLS_SCRIPT_ACTION} naming the
 * stage, {@code CRTOOLS_IMAGE_DIR} the images directory and, once there is one, {@code CRTOOLS_INIT_PID} the
 * tree's root. A script that fails fails the command, as in CRIU. Dump runs pre-dump before the freeze and
 * post-dump once the images are written; restore runs pre-restore before anything is built, and post-restore,
 * pre-resume and post-resume once the tree runs (Cryo resumes each task as soon as it is built, so the last
 * three come together, in CRIU's order).
 */
final class ActionScripts implements dev.cryo.engine.ActionScripts {
    private final List<String> scripts;
    private final Path imagesDir;
    private final Log log;

    ActionScripts(List<String> scripts, Path imagesDir, Log log) {
        this.scripts = scripts;
        this.imagesDir = imagesDir;
        this.log = log;
    }

    /** The scripts as absolute paths, relative ones taken from the current directory. */
    static List<String> resolve(List<String> given) {
        List<String> out = new ArrayList<>();
        for (String s : given) {
            out.add(WorkingDirectory.absolute(s).toString());
        }
        return out;
    }

    /** Runs every script for {@code action}; {@code pid} 0 when there is no root yet. */
    @Override
    public void run(String action, int pid) throws CryoException {
        for (String script : scripts) {
            ProcessBuilder pb = new ProcessBuilder(script).inheritIO();
            pb.environment().put("CRTOOLS_SCRIPT_ACTION", action);
            pb.environment().put("CRTOOLS_IMAGE_DIR", imagesDir.toString());
            if (pid > 0) {
                pb.environment().put("CRTOOLS_INIT_PID", Integer.toString(pid));
            }
            log.info("Running %s for %s", script, action);
            int status;
            try {
                status = pb.start().waitFor();
            } catch (IOException e) {
                throw new CryoException("action script " + script + " for " + action + " cannot run: "
                        + Main.oneLine(e.getMessage()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CryoException("action script " + script + " for " + action + " was interrupted");
            }
            if (status != 0) {
                throw new CryoException("action script " + script + " failed at " + action + " with exit status "
                        + status + (pid > 0 ? " (pid " + pid + ")" : ""));
            }
        }
    }
}
