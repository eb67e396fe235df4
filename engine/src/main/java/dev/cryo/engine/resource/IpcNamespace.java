package dev.cryo.engine.resource;

import dev.cryo.engine.CryoException;
import dev.cryo.engine.log.Log;
import dev.cryo.engine.sys.NamespaceThread;
import dev.cryo.engine.sys.NativeBuffer;
import dev.cryo.engine.sys.Syscall;
import dev.cryo.engine.sys.SyscallException;
import dev.cryo.image.ImageDir;
import dev.cryo.image.ImageEntry;
import dev.cryo.image.ImageFile;
import dev.cryo.image.proto.ipc_desc_entry;
import dev.cryo.image.proto.ipc_msg;
import dev.cryo.image.proto.ipc_msg_entry;
import dev.cryo.image.proto.ipc_sem_entry;
import dev.cryo.image.proto.ipc_shm_entry;
import dev.cryo.image.proto.ipc_var_entry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The SysV IPC objects of an ipc namespace of a container's own, as CRIU keeps them: every shared memory segment
 * ({@code ipcns-shm-N.img}: its ipc_shm_entry, then its contents), message queue ({@code ipcns-msg-N.img}: its
 * ipc_msg_entry, then each message as a size-prefixed ipc_msg and its text) and semaphore set ({@code
 * ipcns-sem-N.img}: its ipc_sem_entry, then the values), attached by the tree or not, with key, owner, creator, mode
 * and id. The namespace's limits ({@code ipcns-var-N.img}) are read by the container's dump and set again here.
 *
 * <p>Both sides work from a thread of Cryo's that has joined the namespace ({@link NamespaceThread}): /proc/sysvipc
 * lists the objects of the reading thread's namespace, and the SysV calls act there. Dump: a segment is read by
 * attaching it read-only in Cryo for the time it takes, a queue's messages by {@code msgrcv(MSG_COPY)}, which
 * leaves them queued, a set's values by {@code GETALL}; the tree is frozen meanwhile. Restore: in the root task's
 * new namespace, before any task is made but the root, each object is made again with its id ({@code
 * /proc/sys/kernel/*_next_id}, as CRIU does) and key, filled, and given its owner and mode; a segment stays Cryo's
 * until every task has attached it ({@link Restore#finish}), and one that was removed (IPC_RMID) while still attached
 * is removed again then. The tasks' SysV mappings attach the segments by id ({@link SharedMemory.Restore}).
 *
 * <p>Not kept, as with CRIU: the times and last pids of each object, a segment's creator (the kernel makes Cryo the
 * creator; the image's cuid/cgid are not settable), semaphore undo values (SEM_UNDO) of the tasks.
 */
public final class IpcNamespace {
    static final int SHMGET = 29, SHMAT = 30, SHMCTL = 31, SHMDT = 67, SEMGET = 64, SEMCTL = 66, MSGGET = 68,
            MSGSND = 69, MSGRCV = 70, MSGCTL = 71;
    static final int IPC_RMID = 0, IPC_SET = 1, IPC_STAT = 2, IPC_CREAT = 01000, IPC_EXCL = 02000,
            IPC_NOWAIT = 04000, MSG_NOERROR = 010000, MSG_COPY = 040000, GETALL = 13, SETALL = 17,
            SHM_RDONLY = 010000, SHM_DEST = 01000;
    private static final int CLONE_NEWIPC = 0x08000000;
    /** struct msqid64_ds / shmid64_ds / semid64_ds are at most this long on x86_64; ipc64_perm starts them */
    private static final int DS_SIZE = 128;
    private static final int MSG_QBYTES = 88;
    private static final long PAGE = 4096;

    private IpcNamespace() {
    }

    public static String shmImage(int nsId) {
        return "ipcns-shm-" + nsId + ".img";
    }

    public static String msgImage(int nsId) {
        return "ipcns-msg-" + nsId + ".img";
    }

    public static String semImage(int nsId) {
        return "ipcns-sem-" + nsId + ".img";
    }

    public static String varImage(int nsId) {
        return "ipcns-var-" + nsId + ".img";
    }

    // ---- dump

    /** What the dump read: the entries of the three images. */
    private record Objects(List<ImageEntry> shm, List<ImageEntry> msg, List<ImageEntry> sem) {
    }

    /**
     * Writes every SysV object of {@code pid}'s ipc namespace into the images of namespace {@code nsId}. Runs while
     * the tree is frozen.
     */
    public static void dump(int pid, int nsId, ImageDir dir, Log log) throws CryoException {
        Objects o;
        try {
            o = NamespaceThread.run(pid, "ipc", CLONE_NEWIPC, () -> read(log));
        } catch (CryoException e) {
            throw new CryoException("cannot dump pid " + pid + ": its ipc namespace: " + e.getMessage(), e);
        } catch (Exception e) {
            throw new CryoException("cannot dump pid " + pid + ": cannot read the SysV objects of its ipc namespace: "
                    + e.getMessage(), e);
        }
        try {
            // written even when empty: a restore finds every kind of object the namespace had, none included
            dir.write(shmImage(nsId), ImageFile.ofRecords("IPCNS_SHM", o.shm()));
            dir.write(msgImage(nsId), ImageFile.ofRecords("IPCNS_MSG", o.msg()));
            dir.write(semImage(nsId), ImageFile.ofRecords("IPCNS_SEM", o.sem()));
        } catch (IOException e) {
            throw new CryoException("cannot dump pid " + pid + ": writing the SysV objects of its ipc namespace failed: "
                    + e.getMessage(), e);
        }
        log.info("ipc namespace of pid %d: %d shared memory segments, %d message queues, %d semaphore sets", pid,
                o.shm().size(), o.msg().size(), o.sem().size());
    }

    /** In the namespace: the objects /proc/sysvipc lists there, each read in full. */
    private static Objects read(Log log) throws CryoException, IOException {
        List<ImageEntry> shm = new ArrayList<>(), msg = new ArrayList<>(), sem = new ArrayList<>();
        // key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime rss swap
        for (String[] f : table("shm", 11)) {
            ipc_desc_entry d = desc(f[0], f[1], f[2], f[7], f[8], f[9], f[10]);
            long size = Long.parseLong(f[3]);
            byte[] data = readSegment(d.getId(), size);
            log.info("SysV shared memory %d (key %#x): %d bytes, attached %s times", d.getId(), d.getKey(), size, f[6]);
            shm.add(new ImageEntry(ipc_shm_entry.newBuilder().setDesc(d).setSize(size).build(), data));
        }
        // key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime
        for (String[] f : table("msg", 11)) {
            ipc_desc_entry d = desc(f[0], f[1], f[2], f[7], f[8], f[9], f[10]);
            long cbytes = Long.parseLong(f[3]), qnum = Long.parseLong(f[4]);
            msg.add(readQueue(d, cbytes, qnum, log));
        }
        // key semid perms nsems uid gid cuid cgid otime ctime
        for (String[] f : table("sem", 8)) {
            ipc_desc_entry d = desc(f[0], f[1], f[2], f[4], f[5], f[6], f[7]);
            int nsems = Integer.parseInt(f[3]);
            NativeBuffer values = NativeBuffer.allocate(Math.max(8, 2 * nsems));
            call("semctl(" + d.getId() + ", GETALL)", SEMCTL, d.getId(), 0, GETALL, values.address());
            byte[] payload = new byte[(int) ((2L * nsems + 7) & ~7L)];
            System.arraycopy(values.bytes(0, 2 * nsems), 0, payload, 0, 2 * nsems);
            log.info("SysV semaphore set %d (key %#x): %d semaphores", d.getId(), d.getKey(), nsems);
            sem.add(new ImageEntry(ipc_sem_entry.newBuilder().setDesc(d).setNsems(nsems).build(), payload));
        }
        return new Objects(shm, msg, sem);
    }

    /** The rows of /proc/sysvipc/KIND past its header, split into fields (at least {@code fields} each). */
    static List<String[]> table(String kind, int fields) throws IOException {
        List<String[]> rows = new ArrayList<>();
        String text;
        try (java.io.InputStream in = Files.newInputStream(Path.of("/proc/sysvipc/" + kind))) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8); // a proc file's size says 0: read it whole
        }
        List<String> lines = text.strip().lines().toList();
        for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= fields) {
                rows.add(f);
            }
        }
        return rows;
    }

    private static ipc_desc_entry desc(String key, String id, String perms, String uid, String gid, String cuid,
                                       String cgid) {
        return ipc_desc_entry.newBuilder().setKey((int) Long.parseLong(key)).setId(Integer.parseInt(id))
                .setMode(Integer.parseInt(perms, 8)).setUid(Integer.parseUnsignedInt(uid))
                .setGid(Integer.parseUnsignedInt(gid)).setCuid(Integer.parseUnsignedInt(cuid))
                .setCgid(Integer.parseUnsignedInt(cgid)).build();
    }

    /** A segment's contents, padded to 4 bytes as the image keeps them: attached read-only in Cryo meanwhile. */
    private static byte[] readSegment(int id, long size) throws CryoException {
        if (size > Integer.MAX_VALUE - 8) {
            throw new CryoException("SysV shared memory " + id + " is " + size + " bytes; Cryo keeps a segment's "
                    + "contents in one image entry, of at most 2 GiB");
        }
        byte[] data = new byte[(int) ((size + 3) & ~3L)];
        if (size == 0) {
            return data;
        }
        long at = call("shmat(" + id + ", SHM_RDONLY) in Cryo", SHMAT, id, 0, SHM_RDONLY);
        try (FileChannel in = FileChannel.open(mapping(at, size), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.wrap(data, 0, (int) size);
            while (b.hasRemaining() && in.read(b, b.position()) > 0) {
                // positional reads to the segment's end
            }
        } catch (IOException e) {
            throw new CryoException("reading SysV shared memory " + id + " failed: " + e.getMessage(), e);
        } finally {
            Syscall.raw(SHMDT, at);
        }
        return data;
    }

    /** Cryo's own mapping at {@code at} of a segment of {@code size} bytes, as a file. */
    private static Path mapping(long at, long size) {
        return Path.of(String.format("/proc/self/map_files/%x-%x", at, at + ((size + PAGE - 1) & ~(PAGE - 1))));
    }

    /**
     * A queue and its messages, read with MSG_COPY (by position, leaving them queued; the kernel has it with
     * CONFIG_CHECKPOINT_RESTORE), its byte limit with IPC_STAT.
     */
    private static ImageEntry readQueue(ipc_desc_entry d, long cbytes, long qnum, Log log) throws CryoException {
        NativeBuffer ds = NativeBuffer.allocate(DS_SIZE);
        call("msgctl(" + d.getId() + ", IPC_STAT)", MSGCTL, d.getId(), IPC_STAT, ds.address());
        long qbytes = ds.getLong(MSG_QBYTES);
        // no message is longer than what the queue holds in all
        NativeBuffer buf = NativeBuffer.allocate((int) Math.min(Integer.MAX_VALUE - 16, 8 + Math.max(cbytes, 8)));
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        for (long i = 0; i < qnum; i++) {
            long r = Syscall.raw(MSGRCV, d.getId(), buf.address(), buf.capacity() - 8, i,
                    IPC_NOWAIT | MSG_COPY | MSG_NOERROR);
            if (r == -38 /* ENOSYS */) {
                throw new CryoException("SysV message queue " + d.getId() + ": this kernel cannot copy a queued "
                        + "message without taking it (msgrcv MSG_COPY needs CONFIG_CHECKPOINT_RESTORE)");
            }
            if (r < 0) {
                throw new CryoException("SysV message queue " + d.getId() + ": msgrcv(MSG_COPY) of message " + i
                        + " of " + qnum + " failed: " + SyscallException.describe((int) -r));
            }
            ipc_msg m = ipc_msg.newBuilder().setMtype(buf.getLong(0)).setMsize((int) r).build();
            byte[] head = m.toByteArray();
            payload.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(head.length).array());
            payload.writeBytes(head);
            byte[] text = new byte[(int) ((r + 7) & ~7L)];
            System.arraycopy(buf.bytes(8, (int) r), 0, text, 0, (int) r);
            payload.writeBytes(text);
        }
        log.info("SysV message queue %d (key %#x): %d messages, %d bytes (limit %d)", d.getId(), d.getKey(), qnum,
                cbytes, qbytes);
        return new ImageEntry(ipc_msg_entry.newBuilder().setDesc(d).setQbytes((int) qbytes).setQnum((int) qnum)
                .build(), payload.toByteArray());
    }

    private static long call(String what, long nr, long... args) throws CryoException {
        long r = Syscall.raw(nr, args);
        if (r < 0 && r > -4096) {
            throw new CryoException(what + " failed: " + SyscallException.describe((int) -r));
        }
        return r;
    }

    // ---- restore

    /**
     * Checks that the images of namespace {@code nsId} can be read, before any task is made; the SysV segments'
     * image, for the tasks' SysV mappings.
     */
    public static void check(ImageDir dir, int nsId, int pid) throws CryoException {
        for (String name : List.of(shmImage(nsId), msgImage(nsId), semImage(nsId), varImage(nsId))) {
            try {
                dir.readIfExists(name);
            } catch (IOException | RuntimeException e) {
                throw new CryoException("cannot restore pid " + pid + ": cannot read " + name + ": " + e.getMessage(), e);
            }
        }
    }

    /** The SysV objects of a container's ipc namespace made again; {@link #finish} once every task is built. */
    public static final class Restore {
        private final int hostPid;
        private final ipc_var_entry vars;
        /** the segments, with the owner and mode they get back once every task has attached them */
        private final List<ipc_desc_entry> segments;
        private final Log log;

        private Restore(int hostPid, ipc_var_entry vars, List<ipc_desc_entry> segments, Log log) {
            this.hostPid = hostPid;
            this.vars = vars;
            this.segments = segments;
            this.log = log;
        }

        /**
         * In the new ipc namespace of the root task {@code hostPid}: its limits from ipcns-var-N.img, then every
         * semaphore set, message queue and segment of the images, each with its id and key, values, messages and
         * contents. A failure leaves nothing of Cryo's: the objects live in the namespace, which ends with the
         * tasks the failed restore kills.
         */
        public static Restore make(int hostPid, int pid, int nsId, ImageDir dir, Log log) throws CryoException {
            String who = "cannot restore pid " + pid + ": its ipc namespace: ";
            ipc_var_entry vars;
            List<ImageEntry> shm, msg, sem;
            try {
                vars = dir.readIfExists(varImage(nsId)).map(f -> f.entries(ipc_var_entry.class))
                        .filter(l -> !l.isEmpty()).map(l -> l.get(0)).orElse(null);
                shm = records(dir, shmImage(nsId));
                msg = records(dir, msgImage(nsId));
                sem = records(dir, semImage(nsId));
            } catch (IOException | RuntimeException e) {
                throw new CryoException(who + "cannot read its images: " + e.getMessage(), e);
            }
            List<ipc_desc_entry> segments = new ArrayList<>();
            try {
                NamespaceThread.runWritingSysctls(hostPid, "ipc", CLONE_NEWIPC, () -> {
                    if (vars != null) {
                        setLimits(vars, log);
                    }
                    for (ImageEntry e : sem) {
                        makeSemaphores((ipc_sem_entry) e.message(), e.payload());
                    }
                    for (ImageEntry e : msg) {
                        makeQueue((ipc_msg_entry) e.message(), e.payload(), vars);
                    }
                    for (ImageEntry e : shm) {
                        segments.add(makeSegment((ipc_shm_entry) e.message(), e.payload()));
                    }
                    return null; // each *_next_id went back to "kernel's choice" (-1) when its object took it
                });
            } catch (CryoException e) {
                throw new CryoException(who + e.getMessage(), e);
            } catch (Exception e) {
                throw new CryoException(who + e.getMessage(), e);
            }
            log.info("ipc namespace of pid %d (host pid %d): %d shared memory segments, %d message queues, %d "
                    + "semaphore sets made", pid, hostPid, shm.size(), msg.size(), sem.size());
            return new Restore(hostPid, vars, segments, log);
        }

        /**
         * Every task has attached its segments: each segment gets its owner and mode back, one removed while
         * attached (SHM_DEST) is removed again, and the next-id knobs get their dumped values.
         */
        public void finish() throws CryoException {
            try {
                NamespaceThread.runWritingSysctls(hostPid, "ipc", CLONE_NEWIPC, () -> {
                    for (ipc_desc_entry d : segments) {
                        int err = setOwner(SHMCTL, d);
                        if (err != 0) {
                            log.warn("SysV shared memory %d: giving it back to uid %d gid %d, mode %o failed: %s; it "
                                    + "stays Cryo's", d.getId(), d.getUid(), d.getGid(), d.getMode() & 0777,
                                    SyscallException.describe(err));
                        }
                        if ((d.getMode() & SHM_DEST) != 0) {
                            Syscall.raw(SHMCTL, d.getId(), IPC_RMID, 0);
                        }
                    }
                    if (vars != null) {
                        // set at the dump (a program preparing its own next id): set again; a write of -1 is refused
                        if (vars.hasMsgNextId()) {
                            write("kernel/msg_next_id", Integer.toUnsignedString(vars.getMsgNextId()));
                        }
                        if (vars.hasSemNextId()) {
                            write("kernel/sem_next_id", Integer.toUnsignedString(vars.getSemNextId()));
                        }
                        if (vars.hasShmNextId()) {
                            write("kernel/shm_next_id", Integer.toUnsignedString(vars.getShmNextId()));
                        }
                    }
                    return null;
                });
            } catch (Exception e) {
                throw new CryoException("cannot restore the ipc namespace of host pid " + hostPid + ": "
                        + e.getMessage(), e);
            }
        }

        private static List<ImageEntry> records(ImageDir dir, String name) throws IOException {
            var f = dir.readIfExists(name);
            return f.isPresent() ? f.get().records() : List.of();
        }
    }

    /** The namespace's limits, as they were; a limit the kernel refuses is logged and left at its default. */
    private static void setLimits(ipc_var_entry v, Log log) {
        StringBuilder sem = new StringBuilder();
        for (int c : v.getSemCtlsList()) {
            sem.append(sem.length() == 0 ? "" : " ").append(Integer.toUnsignedString(c));
        }
        if (v.getSemCtlsCount() > 0) {
            sysctl("kernel/sem", sem.toString(), log);
        }
        sysctl("kernel/msgmax", Integer.toUnsignedString(v.getMsgCtlmax()), log);
        sysctl("kernel/msgmnb", Integer.toUnsignedString(v.getMsgCtlmnb()), log);
        sysctl("kernel/msgmni", Integer.toUnsignedString(v.getMsgCtlmni()), log);
        sysctl("kernel/shmmax", Long.toUnsignedString(v.getShmCtlmax()), log);
        sysctl("kernel/shmall", Long.toUnsignedString(v.getShmCtlall()), log);
        sysctl("kernel/shmmni", Integer.toUnsignedString(v.getShmCtlmni()), log);
        sysctl("kernel/shm_rmid_forced", Integer.toUnsignedString(v.getShmRmidForced()), log);
        sysctl("fs/mqueue/queues_max", Integer.toUnsignedString(v.getMqQueuesMax()), log);
        sysctl("fs/mqueue/msg_max", Integer.toUnsignedString(v.getMqMsgMax()), log);
        sysctl("fs/mqueue/msgsize_max", Integer.toUnsignedString(v.getMqMsgsizeMax()), log);
        if (v.hasMqMsgDefault()) {
            sysctl("fs/mqueue/msg_default", Integer.toUnsignedString(v.getMqMsgDefault()), log);
        }
        if (v.hasMqMsgsizeDefault()) {
            sysctl("fs/mqueue/msgsize_default", Integer.toUnsignedString(v.getMqMsgsizeDefault()), log);
        }
    }

    private static void sysctl(String name, String value, Log log) {
        try {
            if (!read(name).equals(value)) {
                write(name, value);
            }
        } catch (IOException e) {
            log.warn("ipc namespace: %s = %s could not be set again (%s); it keeps the kernel's default", name, value,
                    e.getMessage());
        }
    }

    private static String read(String name) throws IOException {
        try (java.io.InputStream in = Files.newInputStream(Path.of("/proc/sys/" + name))) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip().replaceAll("\\s+", " ");
        }
    }

    private static void write(String name, String value) throws IOException {
        try {
            Files.writeString(Path.of("/proc/sys/" + name), value);
        } catch (IOException e) {
            throw new IOException("writing " + value + " to /proc/sys/" + name + ": " + e.getMessage(), e);
        }
    }

    /** A new object with the image's id: the kernel gives the next one that id, or the restore says what it gave. */
    private static long made(String what, ipc_desc_entry d, long r) throws CryoException {
        if (r < 0) {
            throw new CryoException("cannot make " + what + " " + d.getId() + " (key " + String.format("%#x", d.getKey())
                    + "): " + SyscallException.describe((int) -r));
        }
        if (r != d.getId()) {
            throw new CryoException(what + " " + d.getId() + " came back as " + r + " (its id is taken in the new "
                    + "namespace, or the kernel cannot set it: /proc/sys/kernel/*_next_id)");
        }
        return r;
    }

    private static void makeSemaphores(ipc_sem_entry e, byte[] values) throws CryoException, IOException {
        ipc_desc_entry d = e.getDesc();
        write("kernel/sem_next_id", Integer.toString(d.getId()));
        long id = made("SysV semaphore set", d, Syscall.raw(SEMGET, d.getKey(), e.getNsems(), IPC_CREAT | IPC_EXCL | 0600));
        NativeBuffer b = NativeBuffer.allocate(Math.max(8, 2 * e.getNsems()));
        b.put(0, java.util.Arrays.copyOf(values, 2 * e.getNsems()));
        call("semctl(" + id + ", SETALL)", SEMCTL, id, 0, SETALL, b.address());
        owner(SEMCTL, d);
    }

    private static void makeQueue(ipc_msg_entry e, byte[] payload, ipc_var_entry vars) throws CryoException, IOException {
        ipc_desc_entry d = e.getDesc();
        // a queue's limit above msgmnb, or a message above msgmax, needs CAP_SYS_RESOURCE to set: Cryo has none
        // here, so the namespace's limits are raised to them while the queue is made, then put back
        long mnb = Long.parseLong(read("kernel/msgmnb")), max = Long.parseLong(read("kernel/msgmax"));
        List<ipc_msg> heads = new ArrayList<>();
        List<byte[]> texts = new ArrayList<>();
        ByteBuffer in = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        long longest = 0;
        for (int i = 0; i < e.getQnum(); i++) {
            int len = in.getInt();
            byte[] head = new byte[len];
            in.get(head);
            ipc_msg m;
            try {
                m = ipc_msg.parseFrom(head);
            } catch (com.google.protobuf.InvalidProtocolBufferException bad) {
                throw new CryoException("SysV message queue " + d.getId() + ": message " + i + " is damaged: "
                        + bad.getMessage(), bad);
            }
            byte[] text = new byte[m.getMsize()];
            in.get(text);
            in.position(in.position() + (int) (((m.getMsize() + 7L) & ~7L) - m.getMsize()));
            heads.add(m);
            texts.add(text);
            longest = Math.max(longest, m.getMsize());
        }
        long qbytes = Integer.toUnsignedLong(e.getQbytes());
        boolean raiseMnb = qbytes > mnb, raiseMax = longest > max;
        if (raiseMnb) {
            write("kernel/msgmnb", Long.toString(qbytes));
        }
        if (raiseMax) {
            write("kernel/msgmax", Long.toString(longest));
        }
        try {
            write("kernel/msg_next_id", Integer.toString(d.getId()));
            long id = made("SysV message queue", d, Syscall.raw(MSGGET, d.getKey(), IPC_CREAT | IPC_EXCL | 0600));
            for (int i = 0; i < heads.size(); i++) {
                NativeBuffer b = NativeBuffer.allocate(8 + Math.max(8, texts.get(i).length));
                b.putLong(0, heads.get(i).getMtype());
                b.put(8, texts.get(i));
                call("msgsnd(" + id + ") of message " + i, MSGSND, id, b.address(), texts.get(i).length, IPC_NOWAIT);
            }
            NativeBuffer ds = NativeBuffer.allocate(DS_SIZE);
            ds.putInt(4, d.getUid());
            ds.putInt(8, d.getGid());
            ds.putInt(20, d.getMode() & 0777);
            ds.putLong(MSG_QBYTES, qbytes);
            call("msgctl(" + id + ", IPC_SET)", MSGCTL, id, IPC_SET, ds.address());
        } finally {
            if (raiseMnb) {
                write("kernel/msgmnb", Long.toString(mnb));
            }
            if (raiseMax) {
                write("kernel/msgmax", Long.toString(max));
            }
        }
    }

    private static ipc_desc_entry makeSegment(ipc_shm_entry e, byte[] data) throws CryoException, IOException {
        ipc_desc_entry d = e.getDesc();
        write("kernel/shm_next_id", Integer.toString(d.getId()));
        long id = made("SysV shared memory", d, Syscall.raw(SHMGET, d.getKey(), e.getSize(),
                IPC_CREAT | IPC_EXCL | 0600));
        if (e.getSize() > 0) {
            long at = call("shmat(" + id + ") in Cryo", SHMAT, id, 0, 0);
            try (FileChannel out = FileChannel.open(mapping(at, e.getSize()), StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(data, 0, (int) Math.min(e.getSize(), data.length));
                while (b.hasRemaining()) {
                    out.write(b, b.position());
                }
            } catch (IOException ex) {
                throw new CryoException("writing SysV shared memory " + id + " failed: " + ex.getMessage(), ex);
            } finally {
                Syscall.raw(SHMDT, at);
            }
        }
        return d; // Cryo's, mode 0600, until finish: a task that is not root yet could not attach another's
    }

    /** IPC_SET of an object's owner and mode. */
    private static void owner(int ctl, ipc_desc_entry d) throws CryoException {
        int err = setOwner(ctl, d);
        if (err != 0) {
            throw new CryoException("giving SysV object " + d.getId() + " to uid " + d.getUid() + " gid " + d.getGid()
                    + " (IPC_SET) failed: " + SyscallException.describe(err));
        }
    }

    private static int setOwner(int ctl, ipc_desc_entry d) {
        NativeBuffer ds = NativeBuffer.allocate(DS_SIZE);
        ds.putInt(4, d.getUid());
        ds.putInt(8, d.getGid());
        ds.putInt(20, d.getMode() & 0777);
        long r = ctl == SEMCTL ? Syscall.raw(SEMCTL, d.getId(), 0, IPC_SET, ds.address()) // semctl(id, semnum, cmd, arg)
                : Syscall.raw(ctl, d.getId(), IPC_SET, ds.address());
        return r < 0 ? (int) -r : 0;
    }
}
