package dev.cryo.image;

import com.google.protobuf.Message;
import dev.cryo.image.proto.*;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * What the entries of one image type are: the protobuf message, and whether raw bytes follow each message.
 * Source: crit's handler table ({@code pycriu/images/images.py}) plus SIGNAL and BINFMT_MISC, which CRIU writes
 * but crit 3.17 cannot decode.
 */
public record ImageType(Magic magic, Message prototype, Layout layout, Payload payload) {

    /** How entries follow each other. */
    public enum Layout {
        /** Every entry has the same message type. */
        PLAIN,
        /** One pagemap_head, then pagemap_entry messages. */
        PAGEMAP,
        /** One ghost_file_entry; then either ghost_chunk_entry + data pairs (chunks=true) or the whole file content. */
        GHOST_FILE
    }

    /** Raw bytes stored after each message, and which message field gives their length. */
    public enum Payload {
        NONE,
        /** pipe_data_entry.bytes bytes of pipe content. */
        PIPE_DATA,
        /** sk_packet_entry.length bytes of one queued socket packet. */
        SK_QUEUE,
        /** tcp_stream_entry.inq_len bytes of receive queue, then outq_len bytes of send queue. */
        TCP_STREAM,
        /** bpfmap_data_entry.keys_bytes + values_bytes. */
        BPFMAP_DATA,
        /** ipc_shm_entry.size bytes of segment content, padded to 4. */
        IPC_SHM,
        /** ipc_sem_entry.nsems 16-bit semaphore values, padded to 8 bytes. */
        IPC_SEM,
        /** ipc_msg_entry.qnum messages, each a size-prefixed ipc_msg plus msize bytes padded to 8. */
        IPC_MSG,
        /** ghost file content (see {@link Layout#GHOST_FILE}). */
        GHOST_DATA
    }

    private static final Map<String, ImageType> BY_MAGIC = new HashMap<>();

    static {
        t("INVENTORY", inventory_entry.getDefaultInstance());
        t("CORE", core_entry.getDefaultInstance());
        t("IDS", task_kobj_ids_entry.getDefaultInstance());
        t("CREDS", creds_entry.getDefaultInstance());
        t("UTSNS", utsns_entry.getDefaultInstance());
        t("TIMENS", timens_entry.getDefaultInstance());
        t("PIDNS", pidns_entry.getDefaultInstance());
        t("IPC_VAR", ipc_var_entry.getDefaultInstance());
        t("FS", fs_entry.getDefaultInstance());
        put("GHOST_FILE", ghost_file_entry.getDefaultInstance(), Layout.GHOST_FILE, Payload.GHOST_DATA);
        t("MM", mm_entry.getDefaultInstance());
        t("CGROUP", cgroup_entry.getDefaultInstance());
        put("TCP_STREAM", tcp_stream_entry.getDefaultInstance(), Layout.PLAIN, Payload.TCP_STREAM);
        t("STATS", stats_entry.getDefaultInstance());
        put("PAGEMAP", pagemap_entry.getDefaultInstance(), Layout.PAGEMAP, Payload.NONE);
        t("PSTREE", pstree_entry.getDefaultInstance());
        t("REG_FILES", reg_file_entry.getDefaultInstance());
        t("NS_FILES", ns_file_entry.getDefaultInstance());
        t("EVENTFD_FILE", eventfd_file_entry.getDefaultInstance());
        t("EVENTPOLL_FILE", eventpoll_file_entry.getDefaultInstance());
        t("EVENTPOLL_TFD", eventpoll_tfd_entry.getDefaultInstance());
        t("SIGNALFD", signalfd_entry.getDefaultInstance());
        t("TIMERFD", timerfd_entry.getDefaultInstance());
        t("INOTIFY_FILE", inotify_file_entry.getDefaultInstance());
        t("INOTIFY_WD", inotify_wd_entry.getDefaultInstance());
        t("FANOTIFY_FILE", fanotify_file_entry.getDefaultInstance());
        t("FANOTIFY_MARK", fanotify_mark_entry.getDefaultInstance());
        t("VMAS", vma_entry.getDefaultInstance());
        t("PIPES", pipe_entry.getDefaultInstance());
        t("FIFO", fifo_entry.getDefaultInstance());
        t("SIGACT", sa_entry.getDefaultInstance());
        t("NETLINK_SK", netlink_sk_entry.getDefaultInstance());
        t("REMAP_FPATH", remap_file_path_entry.getDefaultInstance());
        t("MNTS", mnt_entry.getDefaultInstance());
        t("TTY_FILES", tty_file_entry.getDefaultInstance());
        t("TTY_INFO", tty_info_entry.getDefaultInstance());
        t("TTY_DATA", tty_data_entry.getDefaultInstance());
        t("RLIMIT", rlimit_entry.getDefaultInstance());
        t("TUNFILE", tunfile_entry.getDefaultInstance());
        t("EXT_FILES", ext_file_entry.getDefaultInstance());
        t("IRMAP_CACHE", irmap_cache_entry.getDefaultInstance());
        t("FILE_LOCKS", file_lock_entry.getDefaultInstance());
        t("FDINFO", fdinfo_entry.getDefaultInstance());
        t("UNIXSK", unix_sk_entry.getDefaultInstance());
        t("INETSK", inet_sk_entry.getDefaultInstance());
        t("PACKETSK", packet_sock_entry.getDefaultInstance());
        t("ITIMERS", itimer_entry.getDefaultInstance());
        t("POSIX_TIMERS", posix_timer_entry.getDefaultInstance());
        t("NETDEV", net_device_entry.getDefaultInstance());
        put("PIPES_DATA", pipe_data_entry.getDefaultInstance(), Layout.PLAIN, Payload.PIPE_DATA);
        put("FIFO_DATA", pipe_data_entry.getDefaultInstance(), Layout.PLAIN, Payload.PIPE_DATA);
        put("SK_QUEUES", sk_packet_entry.getDefaultInstance(), Layout.PLAIN, Payload.SK_QUEUE);
        put("IPCNS_SHM", ipc_shm_entry.getDefaultInstance(), Layout.PLAIN, Payload.IPC_SHM);
        put("IPCNS_SEM", ipc_sem_entry.getDefaultInstance(), Layout.PLAIN, Payload.IPC_SEM);
        put("IPCNS_MSG", ipc_msg_entry.getDefaultInstance(), Layout.PLAIN, Payload.IPC_MSG);
        t("NETNS", netns_entry.getDefaultInstance());
        t("USERNS", userns_entry.getDefaultInstance());
        t("SECCOMP", seccomp_entry.getDefaultInstance());
        t("AUTOFS", autofs_entry.getDefaultInstance());
        t("FILES", file_entry.getDefaultInstance());
        t("CPUINFO", cpuinfo_entry.getDefaultInstance());
        t("MEMFD_INODE", memfd_inode_entry.getDefaultInstance());
        t("BPFMAP_FILE", bpfmap_file_entry.getDefaultInstance());
        put("BPFMAP_DATA", bpfmap_data_entry.getDefaultInstance(), Layout.PLAIN, Payload.BPFMAP_DATA);
        t("APPARMOR", apparmor_entry.getDefaultInstance());
        // Written by CRIU, unknown to crit 3.17.
        t("SIGNAL", siginfo_entry.getDefaultInstance());
        t("BINFMT_MISC", binfmt_misc_entry.getDefaultInstance());
    }

    private static void t(String magic, Message prototype) {
        put(magic, prototype, Layout.PLAIN, Payload.NONE);
    }

    private static void put(String magic, Message prototype, Layout layout, Payload payload) {
        Magic m = Magic.byName(magic).orElseThrow(() -> new IllegalStateException("no magic " + magic));
        BY_MAGIC.put(magic, new ImageType(m, prototype, layout, payload));
    }

    /** The entry layout of images with this magic name, if Cryo can decode them. */
    public static Optional<ImageType> forMagic(String magicName) {
        return Optional.ofNullable(BY_MAGIC.get(magicName));
    }

    /** The message type of the entry at {@code index} (pagemap's first entry is a pagemap_head, ghost chunks differ). */
    public Message prototypeAt(int index, boolean ghostChunks) {
        if (layout == Layout.PAGEMAP && index == 0) {
            return pagemap_head.getDefaultInstance();
        }
        if (layout == Layout.GHOST_FILE && index > 0 && ghostChunks) {
            return ghost_chunk_entry.getDefaultInstance();
        }
        return prototype;
    }
}
