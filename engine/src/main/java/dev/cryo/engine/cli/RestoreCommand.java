package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.restore.RestoreOptions;
import dev.cryo.engine.restore.Restorer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.List;

/** {@code cryo restore}: bring back the tree in the images directory. */
@Command(name = "restore", sortOptions = false,
        description = {"Restore the process tree in the images directory.",
                "Without -d, cryo waits for the restored root and exits with its exit status."})
final class RestoreCommand implements CryoCommand, QuickParse.Target {
    @Option(names = {"-d", "--restore-detached", "--daemon"}, negatable = true,
            description = "return once the tree runs, instead of waiting for it")
    boolean detached;

    @Option(names = {"-j", "--shell-job"}, negatable = true, description = "restore a shell job into cryo's session and group")
    boolean shellJob;

    @Option(names = "--tcp-close", negatable = true, description = "restore connected TCP sockets closed")
    boolean tcpClose;

    @Option(names = "--tcp-established", negatable = true,
            description = "restore established TCP connections (those in the images are always restored)")
    boolean tcpEstablished;

    @Option(names = {"-t", "--tree"}, paramLabel = "PID", hidden = true, description = "ignored, as CRIU does")
    String tree;

    @Option(names = "--timeout", paramLabel = "SECONDS", description = "bound on the restore's waits (default: 10)")
    String timeout;

    @Mixin
    CommonOptions common = new CommonOptions();

    /** The options above as {@link QuickParse} reads them; tests hold this to the annotations. */
    static final List<QuickParse.Opt> QUICK = QuickParse.with(CommonOptions.QUICK,
            new QuickParse.Opt('d', QuickParse.Kind.NEGATABLE, "restore-detached", "daemon"),
            new QuickParse.Opt('j', QuickParse.Kind.NEGATABLE, "shell-job"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.NEGATABLE, "tcp-close"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.NEGATABLE, "tcp-established"),
            new QuickParse.Opt('t', QuickParse.Kind.VALUE, "tree"),
            new QuickParse.Opt((char) 0, QuickParse.Kind.VALUE, "timeout"));

    @Override
    public List<QuickParse.Opt> quickOptions() {
        return QUICK;
    }

    @Override
    public void set(String key, String value) {
        switch (key) {
            case "restore-detached" -> detached = Boolean.parseBoolean(value);
            case "shell-job" -> shellJob = Boolean.parseBoolean(value);
            case "tcp-close" -> tcpClose = Boolean.parseBoolean(value);
            case "tcp-established" -> tcpEstablished = Boolean.parseBoolean(value);
            case "tree" -> tree = value;
            case "timeout" -> timeout = value;
            default -> {
                if (!common.set(key, value)) {
                    throw new IllegalArgumentException("no option " + key);
                }
            }
        }
    }

    RestoreOptions options() throws UsageError, CryoException {
        Duration bound = Duration.ofSeconds(timeout == null ? DumpCommand.DEFAULT_TIMEOUT
                : DumpCommand.positive("--timeout", timeout));
        return new RestoreOptions(common.imagesDir(), detached, shellJob, tcpClose, common.pidfilePath(), bound);
    }

    @Override
    public int run(Session session) throws CryoException, UsageError {
        RestoreOptions options = options();
        Log log = common.openLog(session);
        if (tree != null) {
            log.warn("-t is ignored by restore: the images say which tree to restore");
        }
        log.info("cryo restore -D %s%s", options.imagesDir(), options.detached() ? " -d" : "");
        return Restorer.restore(options, log);
    }
}
