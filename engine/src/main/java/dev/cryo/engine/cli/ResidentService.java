package dev.cryo.engine.cli;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.ResidentMode;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.proc.ProcFs;
import dev.cryo.engine.sys.DirectFiles;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.StopSignals;
import dev.cryo.engine.sys.Syscall;
import sun.misc.Signal;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * {@code cryo service --resident}: a JVM that stays up and runs the commands bin/cryo hands it, so that a dump or a
 * restore does not pay a JVM's start, class loading and warm-up each time (bin/cryo's hand-off is described in
 * bin/cryo; what follows is the service's half).
 *
 * <p>Everything lives in one directory, root's, mode 0700 ({@code /run/cryo} unless {@code --dir}): whoever can
 * write there is root, so only root's requests are served. In it: {@code pid} (the service's pid, written once it
 * is ready), {@code requests} (a FIFO of request names, one a line), and per request {@code ID.req} (written by the
 * caller: NUL-separated fields {@code cryo-request-1, caller pid, reply fd, the fds holding its stdin, stdout and
 * stderr, argument count, arguments...}) and the
 * spools {@code ID.1}, {@code ID.2} for output that cannot be written straight to the caller's own stdout or stderr.
 *
 * <p>A request is claimed by deleting its {@code ID.req}: a caller that gave up waiting deletes it first, and then
 * runs a fresh cryo, so exactly one of the two runs the command. The service answers on the caller's reply pipe,
 * opened as {@code /proc/CALLER/fd/N}: {@code claimed} at once (the caller's sign that the service is alive), then
 * {@code exit STATUS} when the command is done, or {@code decline} (at either point) for a request a fresh cryo
 * must run because the service cannot run it the same way.
 *
 * <p>Requests run one at a time, each as a fresh cryo would run it: in the caller's working directory, with its
 * umask, with the caller's stdin, stdout and stderr on fds 0, 1 and 2 (pipes, FIFOs and terminals are opened through
 * /proc/CALLER/fd/N; files and sockets, which such an open would not share an offset with, get a spool the caller
 * copies), a session and log of its own. The service declines what it cannot run the same way: a caller in other
 * namespaces or with another root, environment ({@code HOME, PATH}, the locale, {@code CRIU_*}, {@code CRYO_*}) or,
 * for a restore, cgroup; a restore that is not detached ({@code -d}) or is a shell job; options that name the
 * caller's fds or run programs ({@code --inherit-fd, --status-fd, --ps-socket, --close, --action-script,
 * --exec-cmd}); commands other than dump, pre-dump, restore, check and show.
 *
 * <p>SIGTERM, SIGINT or SIGHUP stop the service: at once when it is idle; after the request otherwise, which the
 * signal stops as it stops a fresh cryo (a dump puts its target back and lets it run). Queued requests are declined.
 */
final class ResidentService {
    static final Path DEFAULT_DIR = Path.of("/run/cryo");
    static final String MAGIC = "cryo-request-1";
    static final String PID_FILE = "pid", REQUESTS = "requests";

    private static final int O_RDONLY = 0, O_WRONLY = 1, O_NOCTTY = 0400, O_CLOEXEC = 02000000;
    private static final int S_IFMT = 0170000, S_IFIFO = 0010000, S_IFCHR = 0020000;
    private static final int F_DUPFD_CLOEXEC = 1030;
    private static final int SYS_CHDIR = 80, SYS_MKNODAT = 259, AT_FDCWD = -100;
    /** Options that name the caller's fds or start programs: a fresh cryo runs them in the caller's process. */
    private static final List<String> CALLERS_OWN = List.of("--inherit-fd", "--status-fd", "--ps-socket", "--close",
            "--action-script", "--exec-cmd");
    private static final Set<String> SERVED = Set.of("dump", "pre-dump", "restore", "check", "show");
    /** bin/cryo's own variables for starting a JVM: a caller with any of these set does not hand off at all. */
    private static final Set<String> JVM_LAUNCH = Set.of("CRYO_CDS", "CRYO_JAVA", "CRYO_JAVA_OPTS");
    private static final String[] NAMESPACES = {"mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time"};

    private final Path dir;
    private final Log log;
    private final BlockingQueue<Request> queue = new LinkedBlockingQueue<>();
    private final Object lock = new Object();
    /** Both guarded by {@link #lock}: a stop signal ends an idle service at once, a busy one after its request. */
    private volatile boolean stopping;
    private volatile boolean busy;
    private int[] savedStdio;
    private final Map<String, String> ownEnvironment = System.getenv();

    /**
     * One claimed request: the caller, its reply pipe (open for writing), the caller's fds that hold copies of its
     * stdin, stdout and stderr (bash redirects its own 0, 1 and 2 for a moment while it writes the request), its
     * arguments.
     */
    record Request(String id, int caller, int reply, int[] stdio, String[] args) {
    }

    ResidentService(Path dir, Log log) {
        this.dir = dir;
        this.log = log;
    }

    /** Serves until a stop signal; returns the exit status. */
    int serve() throws CryoException, IOException {
        prepareDirectory();
        ResidentMode.enable();
        Path fifo = dir.resolve(REQUESTS);
        Files.deleteIfExists(fifo);
        mkfifo(fifo);
        removeLeftovers(true);
        savedStdio = new int[]{dupHigh(0), dupHigh(1), dupHigh(2)};
        for (String name : new String[]{"TERM", "INT", "HUP"}) {
            Signal.handle(new Signal(name), s -> stop());
        }
        warmUp();
        RandomAccessFile requests = new RandomAccessFile(fifo.toFile(), "rw"); // O_RDWR: never an EOF between callers
        Path pidFile = dir.resolve(PID_FILE);
        Path tmp = dir.resolve(PID_FILE + ".tmp");
        Files.writeString(tmp, ProcessHandle.current().pid() + "\n");
        Files.move(tmp, pidFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        log.info("cryo resident service %d ready in %s", ProcessHandle.current().pid(), dir);
        Thread reader = new Thread(() -> readRequests(requests), "cryo-resident-requests");
        reader.setDaemon(true);
        reader.start();
        while (!stopping) {
            Request r;
            try {
                r = queue.take();
            } catch (InterruptedException e) {
                break;
            }
            synchronized (lock) {
                busy = !stopping;
            }
            try {
                if (busy) {
                    run(r);
                } else {
                    answer(r, "decline");
                }
            } finally {
                Syscall.raw(Syscall.CLOSE, r.reply());
                synchronized (lock) {
                    busy = false;
                }
            }
            // a stop signal during a dump or restore went to its handler (which stopped the command), not to ours
            if (StopSignals.received() != null) {
                stopping = true;
            }
            removeLeftovers(false);
        }
        shutDown();
        return 0;
    }

    /** A stop signal: idle, the service ends now; busy, after the request (see {@link #serve()}). */
    private void stop() {
        synchronized (lock) {
            stopping = true;
            if (!busy) {
                shutDown();
            }
        }
    }

    private synchronized void shutDown() {
        try {
            Path pidFile = dir.resolve(PID_FILE);
            if (Files.exists(pidFile) && Files.readString(pidFile).strip().equals(Long.toString(ProcessHandle.current().pid()))) {
                Files.deleteIfExists(pidFile);
            }
            Files.deleteIfExists(dir.resolve(REQUESTS));
            for (Request r; (r = queue.poll()) != null; ) {
                answer(r, "decline");
            }
            removeLeftovers(false); // a caller still copying its spools keeps them; the next start removes those
            log.info("cryo resident service %d stopped", ProcessHandle.current().pid());
        } catch (IOException e) {
            log.warn("stopping the resident service: %s", e.getMessage());
        }
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(0);
    }

    /** The directory: made root's and 0700 when missing; refused when it is anyone else's or open to others. */
    private void prepareDirectory() throws CryoException, IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectories(dir.getParent());
            try {
                Files.createDirectory(dir, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE)));
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // checked below like any existing one
            }
        }
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            throw new CryoException("cannot use " + dir + " for the resident service: not a directory (remove it or pick "
                    + "another with --dir)");
        }
        int uid = (Integer) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        int mode = (Integer) Files.getAttribute(dir, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        if (uid != 0 || (mode & 077) != 0) {
            throw new CryoException(String.format("cannot use %s for the resident service: owned by uid %d with mode "
                    + "%04o; it must be root's with mode 0700, so that only root can hand it requests (chown root %s; "
                    + "chmod 0700 %s)", dir, uid, mode & 07777, dir, dir));
        }
        String running = runningService(dir);
        if (running != null && !running.equals(Long.toString(ProcessHandle.current().pid()))) {
            throw new CryoException("a resident service already runs in " + dir + " (pid " + running
                    + "); stop it with 'cryo service --resident --stop" + (dir.equals(DEFAULT_DIR) ? "" : " --dir " + dir) + "'");
        }
    }

    /** The pid of the resident service serving {@code dir}, or null when none runs there. */
    static String runningService(Path dir) {
        try {
            String pid = Files.readString(dir.resolve(PID_FILE)).strip();
            byte[] cmdline = Files.readAllBytes(Path.of("/proc", pid, "cmdline"));
            return new String(cmdline, StandardCharsets.UTF_8).contains("\0--resident") ? pid : null;
        } catch (IOException | java.nio.file.InvalidPathException e) {
            return null;
        }
    }

    /**
     * Pays the JVM's one-time costs now rather than in the first requests: the training run, then whole command lines
     * on a helper of the service's own (a sleep): dump -R, dump, restore -d, each logging at -v4 into a scratch
     * directory, so that the first request finds its classes loaded and its paths compiled (the rehearsal dumps of
     * the training alone left a first real dump three times slower than the second).
     */
    private void warmUp() {
        PrintStream sink = new PrintStream(OutputStream.nullOutputStream());
        try {
            new Training().run(new Session(sink, sink, InputStream.nullInputStream(), 0));
        } catch (IOException | RuntimeException e) {
            log.debug("resident warm-up: %s", e);
        }
        Path scratch = null;
        try {
            scratch = Files.createTempDirectory("cryo-resident-warmup");
            for (int round = 0; round < 5 && !stopping; round++) {
                int helper = dev.cryo.engine.ptrace.HelperProcess.spawnFor(dev.cryo.engine.dump.Warmup.REHEARSAL_HELPER_SECONDS);
                String pid = Integer.toString(helper);
                Path running = Files.createDirectories(scratch.resolve("r" + round));
                Path dumped = Files.createDirectories(scratch.resolve("d" + round));
                Main.run(new String[]{"dump", "-R", "-t", pid, "-D", running.toString(), "-o", "dump.log", "-v4"},
                        sink, sink, InputStream.nullInputStream());
                int dumpStatus = Main.run(new String[]{"dump", "-t", pid, "-D", dumped.toString(), "-o", "dump.log",
                        "-v4"}, sink, sink, InputStream.nullInputStream());
                Syscall.raw(Syscall.KILL, helper, 9); // gone already after a dump that worked
                // the service's child: reaped (by the dump's clean-up, else here: ECHILD then), so its pid is free
                Syscall.raw(Syscall.WAIT4, helper, 0, 0x40000000 /* __WALL */, 0);
                if (dumpStatus == 0 && Main.run(new String[]{"restore", "-d", "-D", dumped.toString(), "-o",
                        "restore.log", "-v4"}, sink, sink, InputStream.nullInputStream()) == 0) {
                    Syscall.raw(Syscall.KILL, helper, 9); // no longer the service's child: init or a subreaper reaps it
                }
            }
        } catch (IOException | dev.cryo.engine.sys.SyscallException | RuntimeException e) {
            log.debug("resident warm-up: %s", e);
        } finally {
            if (scratch != null) {
                deleteTree(scratch);
            }
        }
    }

    private static void deleteTree(Path dir) {
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a scratch directory under /tmp: left to the system's clean-up
        }
    }

    // ---- the reader: claims each request at once, so that a caller knows the service is alive ----

    private void readRequests(RandomAccessFile requests) {
        byte[] buf = new byte[4096];
        StringBuilder line = new StringBuilder();
        while (true) {
            int n;
            try {
                n = requests.read(buf);
            } catch (IOException e) {
                return;
            }
            for (int i = 0; i < n; i++) {
                if (buf[i] != '\n') {
                    line.append((char) (buf[i] & 0xff));
                    continue;
                }
                String id = line.toString();
                line.setLength(0);
                try {
                    claim(id);
                } catch (RuntimeException e) {
                    // a malformed request costs only itself
                }
            }
        }
    }

    private void claim(String id) {
        if (!id.matches("[0-9]+\\.[0-9A-Za-z]+")) {
            return;
        }
        Path file = dir.resolve(id + ".req");
        byte[] content;
        try {
            content = Files.readAllBytes(file);
            Files.delete(file); // the claim: a caller that withdrew deleted it first
        } catch (IOException e) {
            return;
        }
        List<String> fields = fields(content);
        if (fields.size() < 7 || !fields.get(0).equals(MAGIC)) {
            return;
        }
        int caller, replyFd, argc;
        int[] stdio = new int[3];
        try {
            caller = Integer.parseInt(fields.get(1));
            replyFd = Integer.parseInt(fields.get(2));
            for (int i = 0; i < 3; i++) {
                stdio[i] = Integer.parseInt(fields.get(3 + i));
            }
            argc = Integer.parseInt(fields.get(6));
        } catch (NumberFormatException e) {
            return;
        }
        if (!id.startsWith(caller + ".") || fields.size() != 7 + argc) {
            return;
        }
        int reply;
        try {
            requireFifo("/proc/" + caller + "/fd/" + replyFd);
            reply = open("/proc/" + caller + "/fd/" + replyFd, O_WRONLY | O_CLOEXEC);
        } catch (IOException e) {
            return; // the caller is gone
        }
        Request r = new Request(id, caller, reply, stdio, fields.subList(7, fields.size()).toArray(new String[0]));
        if (stopping || !write(reply, "claimed\n")) {
            if (stopping) {
                write(reply, "decline\n");
            }
            Syscall.raw(Syscall.CLOSE, reply);
            return;
        }
        queue.add(r);
    }

    private static List<String> fields(byte[] content) {
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < content.length; i++) {
            if (content[i] == 0) {
                out.add(new String(content, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        return out;
    }

    // ---- the worker: one request at a time, as a fresh cryo would run it ----

    private void run(Request r) {
        String proc = "/proc/" + r.caller();
        String cwd;
        int umask;
        try {
            String why = declineReason(r, proc);
            if (why != null) {
                log.debug("request %s declined: %s", r.id(), why);
                answer(r, "decline");
                return;
            }
            cwd = DirectFiles.readLink(proc + "/cwd");
            if (cwd.endsWith(" (deleted)")) {
                answer(r, "decline");
                return;
            }
            umask = Integer.parseInt(statusField(proc, "Umask"), 8);
        } catch (IOException | RuntimeException e) {
            log.debug("request %s declined: %s", r.id(), e);
            answer(r, "decline");
            return;
        }
        int[] stdio = new int[3];
        Arrays.fill(stdio, -1);
        long oldUmask = -1;
        int status;
        PrintStream oldOut = System.out, oldErr = System.err;
        InputStream oldIn = System.in;
        try {
            stdio[0] = callersStream(r, 0);
            stdio[1] = callersStream(r, 1);
            stdio[2] = sameFile(proc, r.stdio()[1], r.stdio()[2]) && stdio[1] >= 0 && isSpool(r, stdio[1])
                    ? dupHigh(stdio[1]) : callersStream(r, 2);
            if (chdir(proc + "/cwd") != 0) {
                answer(r, "decline");
                return;
            }
            for (int fd = 0; fd < 3; fd++) {
                Syscall.raw(Syscall.DUP2, stdio[fd], fd);
            }
            oldUmask = Syscall.raw(Syscall.UMASK, umask);
            WorkingDirectory.use(Path.of(cwd));
            PrintStream out = new PrintStream(new FileOutputStream(java.io.FileDescriptor.out), false);
            PrintStream err = new PrintStream(new FileOutputStream(java.io.FileDescriptor.err), true);
            System.setOut(out);
            System.setErr(err);
            System.setIn(new java.io.FileInputStream(java.io.FileDescriptor.in));
            status = Main.run(r.args(), out, err, System.in);
            out.flush();
            err.flush();
        } catch (IOException e) {
            answer(r, "decline");
            return;
        } catch (Throwable t) { // a fresh cryo reports these in Main; here they must not end the service
            status = 1;
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
            System.setIn(oldIn);
            WorkingDirectory.use(null);
            if (oldUmask >= 0) {
                Syscall.raw(Syscall.UMASK, oldUmask);
            }
            for (int fd = 0; fd < 3; fd++) {
                Syscall.raw(Syscall.DUP2, savedStdio[fd], fd);
                if (stdio[fd] >= 0) {
                    Syscall.raw(Syscall.CLOSE, stdio[fd]);
                }
            }
            chdir("/");
        }
        log.debug("request %s served: %s, exit %d", r.id(), String.join(" ", r.args()), status);
        answer(r, "exit " + status);
    }

    /** Why a fresh cryo must run this request, or null when the service runs it the same way. */
    private String declineReason(Request r, String proc) throws IOException {
        if (!statusField(proc, "Uid").matches("0\\s+0\\s+0\\s+0")) {
            return "the caller is not root";
        }
        for (String ns : NAMESPACES) {
            String mine = readLinkOrEmpty("/proc/self/ns/" + ns);
            if (!mine.equals(readLinkOrEmpty(proc + "/ns/" + ns))) {
                return "the caller is in another " + ns + " namespace";
            }
        }
        if (!DirectFiles.readLink(proc + "/root").equals(DirectFiles.readLink("/proc/self/root"))) {
            return "the caller has another root directory";
        }
        Map<String, String> env = environment(proc);
        for (String name : union(env.keySet(), ownEnvironment.keySet())) {
            boolean matters = name.equals("HOME") || name.equals("PATH") || name.equals("LANG") || name.startsWith("LC_")
                    || name.startsWith("CRIU_") || (name.startsWith("CRYO_") && !name.startsWith("CRYO_RESIDENT")
                    && !JVM_LAUNCH.contains(name));
            if (matters && !java.util.Objects.equals(env.get(name), ownEnvironment.get(name))) {
                return "the caller's " + name + " differs from the service's";
            }
        }
        String[] args;
        try {
            args = ConfigFiles.expand(r.args());
        } catch (UsageError e) {
            return null; // a fresh cryo says so the same way
        }
        for (String a : args) {
            for (String own : CALLERS_OWN) {
                if (a.equals(own) || a.startsWith(own + "=")) {
                    return "option " + own;
                }
            }
        }
        CommandLineScan scan = CommandLineScan.of(args);
        if (scan.command() == null || !SERVED.contains(scan.command())) {
            return "command " + scan.command();
        }
        if (scan.command().equals("dump") || scan.command().equals("pre-dump")) {
            DumpCommand dump = new DumpCommand(scan.command().equals("pre-dump"));
            int tree = QuickParse.parse(scan.arguments(), dump) && dump.tree != null && dump.tree.matches("\\d{1,9}")
                    ? Integer.parseInt(dump.tree) : -1;
            if (tree > 0 && (r.caller() == tree || new ProcFs().descendsFrom(r.caller(), Set.of(tree)))) {
                // a fresh cryo is in the tree too, and refuses it: the service, outside it, would freeze its caller
                return "the caller is in the tree it asks to dump";
            }
        }
        if (scan.command().equals("restore")) {
            RestoreCommand restore = new RestoreCommand();
            if (!QuickParse.parse(scan.arguments(), restore)) {
                return "a restore line for picocli (help, an error)";
            }
            if (!restore.detached || restore.shellJob) {
                return "a restore without -d, or with -j: the tree would be the service's child, not the caller's";
            }
            if (!Files.readString(Path.of(proc, "cgroup")).equals(Files.readString(Path.of("/proc/self/cgroup")))) {
                return "the caller is in another cgroup than the service";
            }
        }
        return null;
    }

    private static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> all = new java.util.HashSet<>(a);
        all.addAll(b);
        return all;
    }

    private static Map<String, String> environment(String proc) throws IOException {
        Map<String, String> env = new java.util.HashMap<>();
        for (String kv : fields(Files.readAllBytes(Path.of(proc, "environ")))) {
            int eq = kv.indexOf('=');
            if (eq > 0) {
                env.putIfAbsent(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        return env;
    }

    private static String statusField(String proc, String name) throws IOException {
        for (String line : Files.readAllLines(Path.of(proc, "status"))) {
            if (line.startsWith(name + ":")) {
                return line.substring(name.length() + 1).strip();
            }
        }
        throw new IOException(proc + "/status has no " + name);
    }

    private static String readLinkOrEmpty(String path) {
        try {
            return DirectFiles.readLink(path);
        } catch (IOException e) {
            return "";
        }
    }

    /**
     * The caller's fd {@code fd} for the request: reopened through /proc when it is a pipe, FIFO or terminal (it then
     * is the same pipe or terminal); otherwise a spool file ID.{@code fd} the caller copies to its fd (a regular file
     * reopened would have an offset of its own, a socket cannot be reopened); /dev/null for a missing stdin.
     */
    private int callersStream(Request r, int fd) throws IOException {
        String path = "/proc/" + r.caller() + "/fd/" + r.stdio()[fd];
        int type;
        try {
            type = DirectFiles.stat(path).mode() & S_IFMT;
        } catch (IOException e) {
            type = -1;
        }
        if (type == S_IFIFO || type == S_IFCHR) {
            try {
                return open(path, (fd == 0 ? O_RDONLY : O_WRONLY) | O_NOCTTY | O_CLOEXEC);
            } catch (IOException e) {
                // not reopenable after all (a pipe end that just closed): as below
            }
        }
        if (fd == 0) {
            return open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        Path spool = dir.resolve(r.id() + "." + fd);
        return open(spool.toString(), O_WRONLY | O_CLOEXEC | 0100 /* O_CREAT */ | 01000 /* O_TRUNC */, 0600);
    }

    private boolean isSpool(Request r, int fd) {
        try {
            return DirectFiles.readLink("/proc/self/fd/" + fd).equals(dir.resolve(r.id() + ".1").toString());
        } catch (IOException e) {
            return false;
        }
    }

    /** True when the caller's fds {@code a} and {@code b} are one file (2>&1): one spool keeps their order. */
    private static boolean sameFile(String proc, int a, int b) {
        try {
            return Files.isSameFile(Path.of(proc, "fd", Integer.toString(a)), Path.of(proc, "fd", Integer.toString(b)));
        } catch (IOException e) {
            return false;
        }
    }

    /** Spools of callers that are gone (every one, at start); a caller copies its spools before it exits. */
    private void removeLeftovers(boolean all) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                String name = p.getFileName().toString();
                int dot = name.indexOf('.');
                if (dot <= 0 || !name.substring(0, dot).chars().allMatch(Character::isDigit)) {
                    continue;
                }
                if (all || !Files.exists(Path.of("/proc", name.substring(0, dot)))) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException e) {
            log.debug("resident service: cleaning %s: %s", dir, e.getMessage());
        }
    }

    private void answer(Request r, String line) {
        write(r.reply(), line + "\n");
    }

    // ---- syscalls ----

    private static boolean write(int fd, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        NativeBuffer b = NativeBuffer.allocate(bytes.length);
        b.put(0, bytes);
        return Syscall.raw(Syscall.WRITE, fd, b.address(), bytes.length) == bytes.length;
    }

    private static int open(String path, int flags) throws IOException {
        return open(path, flags, 0);
    }

    private static int open(String path, int flags, int mode) throws IOException {
        NativeBuffer b = cString(path);
        long fd = Syscall.raw(Syscall.OPENAT, AT_FDCWD, b.address(), flags, mode);
        if (fd < 0) {
            throw new NoSuchFileException(path, null, dev.cryo.engine.sys.SyscallException.describe((int) -fd));
        }
        return (int) fd;
    }

    private static void requireFifo(String path) throws IOException {
        if ((DirectFiles.stat(path).mode() & S_IFMT) != S_IFIFO) {
            throw new IOException(path + " is not a pipe");
        }
    }

    private static long chdir(String path) {
        return Syscall.raw(SYS_CHDIR, cString(path).address());
    }

    private static int dupHigh(int fd) {
        return (int) Syscall.raw(Syscall.FCNTL, fd, F_DUPFD_CLOEXEC, 10);
    }

    private static void mkfifo(Path path) throws CryoException {
        long r = Syscall.raw(SYS_MKNODAT, AT_FDCWD, cString(path.toString()).address(), S_IFIFO | 0600, 0);
        if (r < 0) {
            throw new CryoException("cannot make the resident service's FIFO " + path + ": "
                    + dev.cryo.engine.sys.SyscallException.describe((int) -r));
        }
    }

    private static NativeBuffer cString(String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        NativeBuffer b = NativeBuffer.allocate(bytes.length + 1);
        b.put(0, bytes);
        b.buffer().put(bytes.length, (byte) 0);
        return b;
    }
}
