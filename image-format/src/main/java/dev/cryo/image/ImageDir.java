package dev.cryo.image;

import com.google.protobuf.Message;
import dev.cryo.image.proto.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A dump directory: typed access to the images CRIU and Cryo write there, the raw pages-N.img files, and the
 * {@code parent} symlink chain of incremental dumps (pre-dump, --prev-images-dir).
 * File names follow CRIU: {@code core-PID.img}, {@code pagemap-PID.img}, {@code fdinfo-N.img}, ...
 */
public final class ImageDir {
    /** Name of the symlink to the previous dump in an incremental chain. */
    public static final String PARENT_LINK = "parent";
    /** Longest parent chain followed; guards against symlink loops. */
    static final int MAX_CHAIN = 256;

    /** How an image's bytes reach its file; {@link #create(Path)} uses {@link ImageAccess#write}. */
    @FunctionalInterface
    public interface FileWriter {
        void write(Path file, byte[] bytes) throws IOException;

        /**
         * Writes {@code head}, then the bytes between {@code tail}'s position and limit (left as they are). This
         * default joins them in one array; a writer that can write a direct buffer as it is overrides it, so that
         * megabytes of socket queue are not copied twice more on their way to the file.
         */
        default void write(Path file, byte[] head, java.nio.ByteBuffer tail) throws IOException {
            java.nio.ByteBuffer t = tail.duplicate();
            byte[] all = java.util.Arrays.copyOf(head, head.length + t.remaining());
            t.get(all, head.length, t.remaining());
            write(file, all);
        }
    }

    private final Path path;
    private final FileWriter writer;
    /** Checksums of what this directory's writer wrote (a directory opened to write only); null when read. */
    private final ImageChecksums checksums;

    /** Single-entry images already parsed, by file name (null: each read parses its file again). */
    private final java.util.concurrent.ConcurrentHashMap<String, Message> remembered;

    private ImageDir(Path path, FileWriter writer, ImageChecksums checksums) {
        this(path, writer, checksums, null);
    }

    private ImageDir(Path path, FileWriter writer, ImageChecksums checksums,
                     java.util.concurrent.ConcurrentHashMap<String, Message> remembered) {
        this.path = path;
        this.writer = writer;
        this.checksums = checksums;
        this.remembered = remembered;
    }

    /**
     * This directory, read through a memory of the single-entry images (core, mm, fs, ids...) it has parsed: for a
     * reader that goes over them twice (a restore checks the cores against the machine, then builds from them) and
     * knows the files do not change meanwhile. Safe to share between threads.
     */
    public ImageDir remembering() {
        return new ImageDir(path, writer, checksums, new java.util.concurrent.ConcurrentHashMap<>());
    }

    /** Opens an existing dump directory. */
    public static ImageDir open(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new java.nio.file.NotDirectoryException(dir + " is not an image directory");
        }
        return new ImageDir(dir, ImageAccess::write, null);
    }

    /** Creates the directory (and parents) if needed and opens it for writing. */
    public static ImageDir create(Path dir) throws IOException {
        return create(dir, ImageAccess::write);
    }

    /**
     * As {@link #create(Path)}, writing every image through {@code writer} (a caller with cheaper file access than
     * NIO's, such as the engine's plain syscalls, passes its own).
     */
    public static ImageDir create(Path dir, FileWriter writer) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir);
            ImageAccess.tighten(dir);
        }
        return new ImageDir(dir, writer, new ImageChecksums());
    }

    public Path path() {
        return path;
    }

    /** Path of an image in this directory. */
    public Path resolve(String fileName) {
        return path.resolve(fileName);
    }

    public boolean exists(String fileName) {
        return Files.exists(resolve(fileName));
    }

    /** Reads any image by file name. */
    public ImageFile read(String fileName) throws IOException {
        return ImageFile.read(resolve(fileName));
    }

    /** Reads an image if the file exists. */
    public Optional<ImageFile> readIfExists(String fileName) throws IOException {
        return exists(fileName) ? Optional.of(read(fileName)) : Optional.empty();
    }

    /** Writes any image by file name, replacing an existing one; its checksums join the manifest. */
    public void write(String fileName, ImageFile image) throws IOException {
        if (remembered != null) {
            remembered.remove(fileName);
        }
        byte[] bytes = image.toBytes();
        ImageChecksums.Sink sums = checksumSink(fileName); // before the write: a failed dump removes what it began
        writer.write(resolve(fileName), bytes);
        sums.update(java.nio.ByteBuffer.wrap(bytes));
        sums.close();
    }

    // ---- manifest (see ImageChecksums)

    /** The running checksum of a file the caller writes itself (pages), front to back. */
    public ImageChecksums.Sink checksumSink(String fileName) {
        return checksums == null ? ImageChecksums.Sink.NONE : checksums.sink(fileName);
    }

    /**
     * A dump starts writing here: an older dump's manifest goes, and {@value ImageChecksums#INCOMPLETE} marks the
     * directory until {@link #commitDump()}, so that a restore refuses what a failed or killed dump leaves.
     *
     * @return what was done to the directory's mode, for the log, or null
     */
    public String beginDump() throws IOException {
        String tightened = ImageAccess.tighten(path);
        Files.deleteIfExists(resolve(ImageChecksums.FILE));
        writer.write(resolve(ImageChecksums.INCOMPLETE), new byte[0]);
        return tightened;
    }

    /** The dump is complete: the manifest is written and the directory's mark taken away. */
    public void commitDump() throws IOException {
        writer.write(resolve(ImageChecksums.FILE), checksums.manifest());
        Files.deleteIfExists(resolve(ImageChecksums.INCOMPLETE));
    }

    /**
     * The dump failed after its target was killed (writing the stats or the manifest): the images are all that is
     * left of the process, so they stay restorable, unchecked, without a manifest.
     */
    public void keepWithoutManifest() {
        try {
            Files.deleteIfExists(resolve(ImageChecksums.FILE));
            Files.deleteIfExists(resolve(ImageChecksums.INCOMPLETE));
        } catch (IOException e) {
            // a restore then refuses the directory, naming the mark, which can be removed by hand
        }
    }

    /**
     * The dump failed: the images it wrote are removed (they free a full disk's space, and none of them could be
     * restored); the mark stays, so that a restore says why the directory holds nothing it can use.
     */
    public void abandonDump() {
        for (String name : checksums.names()) {
            try {
                Files.deleteIfExists(resolve(name));
            } catch (IOException e) {
                // the mark makes the leftover harmless
            }
        }
    }

    // ---- process tree

    public inventory_entry inventory() throws IOException {
        return single("inventory.img", inventory_entry.class);
    }

    public void writeInventory(inventory_entry e) throws IOException {
        write("inventory.img", ImageFile.of("INVENTORY", List.of(e)));
    }

    public List<pstree_entry> pstree() throws IOException {
        return read("pstree.img").entries(pstree_entry.class);
    }

    public void writePstree(List<pstree_entry> entries) throws IOException {
        write("pstree.img", ImageFile.of("PSTREE", entries));
    }

    // ---- per task

    /** core-TID.img: registers, signals and task state of one thread. */
    public core_entry core(int tid) throws IOException {
        return single("core-" + tid + ".img", core_entry.class);
    }

    public void writeCore(int tid, core_entry e) throws IOException {
        write("core-" + tid + ".img", ImageFile.of("CORE", List.of(e)));
    }

    public mm_entry mm(int pid) throws IOException {
        return single("mm-" + pid + ".img", mm_entry.class);
    }

    public void writeMm(int pid, mm_entry e) throws IOException {
        write("mm-" + pid + ".img", ImageFile.of("MM", List.of(e)));
    }

    public fs_entry fs(int pid) throws IOException {
        return single("fs-" + pid + ".img", fs_entry.class);
    }

    public void writeFs(int pid, fs_entry e) throws IOException {
        write("fs-" + pid + ".img", ImageFile.of("FS", List.of(e)));
    }

    public task_kobj_ids_entry ids(int pid) throws IOException {
        return single("ids-" + pid + ".img", task_kobj_ids_entry.class);
    }

    public void writeIds(int pid, task_kobj_ids_entry e) throws IOException {
        write("ids-" + pid + ".img", ImageFile.of("IDS", List.of(e)));
    }

    // ---- memory

    public PageMap pagemap(int pid) throws IOException {
        String name = "pagemap-" + pid + ".img";
        ImageFile img = read(name);
        List<Message> entries = img.entries();
        if (!img.magicName().equals("PAGEMAP") || entries.isEmpty()) {
            throw new ImageFormatException(name, 0, "expected a PAGEMAP image with a pagemap_head, found "
                    + img.magicName() + " with " + entries.size() + " entries");
        }
        List<pagemap_entry> runs = new ArrayList<>(entries.size() - 1);
        for (Message m : entries.subList(1, entries.size())) {
            runs.add((pagemap_entry) m);
        }
        return new PageMap(((pagemap_head) entries.get(0)).getPagesId(), runs);
    }

    public void writePagemap(int pid, PageMap map) throws IOException {
        List<Message> entries = new ArrayList<>(map.entries().size() + 1);
        entries.add(pagemap_head.newBuilder().setPagesId(map.pagesId()).build());
        entries.addAll(map.entries());
        write("pagemap-" + pid + ".img", ImageFile.of("PAGEMAP", entries));
    }

    /** pages-ID.img: raw page contents, no magic, in pagemap order. */
    public Path pagesPath(int pagesId) {
        return resolve("pages-" + pagesId + ".img");
    }

    /** Where each page of {@code pid} is stored, following parent links for pages dumped earlier. */
    public PageIndex pageIndex(int pid) throws IOException {
        return PageIndex.build(this, pid, 0);
    }

    // ---- files

    public List<file_entry> files() throws IOException {
        return read("files.img").entries(file_entry.class);
    }

    public void writeFiles(List<file_entry> entries) throws IOException {
        write("files.img", ImageFile.of("FILES", entries));
    }

    /** fdinfo-N.img, N being the files_id of the task's fd table (ids-PID.img). */
    public List<fdinfo_entry> fdinfo(int filesId) throws IOException {
        return read("fdinfo-" + filesId + ".img").entries(fdinfo_entry.class);
    }

    public void writeFdinfo(int filesId, List<fdinfo_entry> entries) throws IOException {
        write("fdinfo-" + filesId + ".img", ImageFile.of("FDINFO", entries));
    }

    /** pipes-data.img: pipe_data_entry messages each followed by the pipe's buffered bytes. */
    public List<ImageEntry> pipesData() throws IOException {
        return read("pipes-data.img").records();
    }

    public void writePipesData(List<ImageEntry> entries) throws IOException {
        write("pipes-data.img", ImageFile.ofRecords("PIPES_DATA", entries));
    }

    /** tcp-stream-INO.img (inode in hex): one tcp_stream_entry followed by receive and send queue bytes. */
    public ImageEntry tcpStream(long inode) throws IOException {
        String name = "tcp-stream-" + Long.toHexString(inode) + ".img";
        ImageFile img = read(name);
        requireOne(name, img);
        return img.records().get(0);
    }

    public void writeTcpStream(long inode, ImageEntry entry) throws IOException {
        write("tcp-stream-" + Long.toHexString(inode) + ".img", ImageFile.ofRecords("TCP_STREAM", List.of(entry)));
    }

    /**
     * As {@link #writeTcpStream(long, ImageEntry)}, the queues' bytes (receive then send) taken from {@code payload}'s
     * position to its limit without a copy of them on the heap.
     */
    public void writeTcpStream(long inode, tcp_stream_entry entry, java.nio.ByteBuffer payload) throws IOException {
        String name = "tcp-stream-" + Long.toHexString(inode) + ".img";
        long expected = (long) entry.getInqLen() + entry.getOutqLen();
        if (payload.remaining() != expected) {
            throw new ImageFormatException(name, 0, "tcp_stream_entry announces " + expected
                    + " payload bytes but carries " + payload.remaining());
        }
        // the framing of an entry with no payload, the payload then follows it
        byte[] head = ImageFile.ofRecords("TCP_STREAM", List.of(new ImageEntry(entry, new byte[0])))
                .toBytesUnchecked();
        ImageChecksums.Sink sums = checksumSink(name);
        writer.write(resolve(name), head, payload);
        sums.update(java.nio.ByteBuffer.wrap(head));
        sums.update(payload);
        sums.close();
    }

    // ---- whole dump

    public stats_entry dumpStats() throws IOException {
        return single("stats-dump", stats_entry.class);
    }

    public void writeDumpStats(stats_entry e) throws IOException {
        write("stats-dump", ImageFile.of("STATS", List.of(e)));
    }

    public stats_entry restoreStats() throws IOException {
        return single("stats-restore", stats_entry.class);
    }

    public void writeRestoreStats(stats_entry e) throws IOException {
        write("stats-restore", ImageFile.of("STATS", List.of(e)));
    }

    public seccomp_entry seccomp() throws IOException {
        return single("seccomp.img", seccomp_entry.class);
    }

    public void writeSeccomp(seccomp_entry e) throws IOException {
        write("seccomp.img", ImageFile.of("SECCOMP", List.of(e)));
    }

    /** timens-ID.img, ID being the time namespace id (0 for the dumper's own). */
    public timens_entry timens(int id) throws IOException {
        return single("timens-" + id + ".img", timens_entry.class);
    }

    public void writeTimens(int id, timens_entry e) throws IOException {
        write("timens-" + id + ".img", ImageFile.of("TIMENS", List.of(e)));
    }

    // ---- incremental chain

    /** The previous dump this one builds on, if a {@code parent} link exists. */
    public Optional<ImageDir> parent() throws IOException {
        Path link = resolve(PARENT_LINK);
        if (!Files.exists(link, LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        Path target = link.toRealPath();
        if (!Files.isDirectory(target)) {
            throw new java.nio.file.NotDirectoryException(link + " points to " + target + ", which is not a directory");
        }
        return Optional.of(new ImageDir(target, writer, null));
    }

    /** Points the {@code parent} link at {@code previous} (stored relative to this directory, as CRIU does). */
    public void linkParent(Path previous) throws IOException {
        Path link = resolve(PARENT_LINK);
        Files.deleteIfExists(link);
        Path absDir = path.toAbsolutePath().normalize();
        Path target = previous.isAbsolute() ? absDir.relativize(previous.normalize()) : previous;
        Files.createSymbolicLink(link, target);
    }

    /** This directory followed by its parents, nearest first. Fails on loops or chains over 256 deep. */
    public List<ImageDir> chain() throws IOException {
        List<ImageDir> out = new ArrayList<>();
        Set<Path> seen = new HashSet<>();
        Optional<ImageDir> cur = Optional.of(this);
        while (cur.isPresent()) {
            ImageDir d = cur.get();
            if (!seen.add(d.path.toRealPath()) || out.size() >= MAX_CHAIN) {
                throw new ImageFormatException(d.path + "/" + PARENT_LINK, 0, "parent links form a loop or a chain deeper than "
                        + MAX_CHAIN);
            }
            out.add(d);
            cur = d.parent();
        }
        return out;
    }

    private <T extends Message> T single(String name, Class<T> type) throws IOException {
        if (remembered != null && name.endsWith(".img")) { // not stats-dump or stats-restore, which runs write
            Message m = remembered.get(name);
            if (type.isInstance(m)) {
                return type.cast(m);
            }
            T read = parseSingle(name, type);
            remembered.put(name, read);
            return read;
        }
        return parseSingle(name, type);
    }

    private <T extends Message> T parseSingle(String name, Class<T> type) throws IOException {
        ImageFile img = read(name);
        requireOne(name, img);
        Message m = img.entries().get(0);
        if (!type.isInstance(m)) {
            throw new ImageFormatException(name, 0, "holds a " + img.magicName() + " image, not "
                    + type.getSimpleName());
        }
        return type.cast(m);
    }

    private static void requireOne(String name, ImageFile img) throws ImageFormatException {
        if (img.records().size() != 1) {
            throw new ImageFormatException(name, 0, "expected exactly one entry, found " + img.records().size());
        }
    }

    @Override
    public String toString() {
        return "ImageDir{" + path + "}";
    }
}
