package dev.cryo.image;

import com.google.protobuf.Message;
import dev.cryo.image.proto.*;

/** Payload lengths as the message announces them (crit's extra handlers). */
final class PayloadLayout {
    private PayloadLayout() {
    }

    /** Length of a fixed-size payload; unsigned arithmetic, so callers compare against what is left. */
    static long length(ImageType.Payload payload, Message m) {
        return switch (payload) {
            case NONE, IPC_MSG, GHOST_DATA -> 0;
            case PIPE_DATA -> Integer.toUnsignedLong(((pipe_data_entry) m).getBytes());
            case SK_QUEUE -> Integer.toUnsignedLong(((sk_packet_entry) m).getLength());
            case TCP_STREAM -> Integer.toUnsignedLong(((tcp_stream_entry) m).getInqLen())
                    + Integer.toUnsignedLong(((tcp_stream_entry) m).getOutqLen());
            case BPFMAP_DATA -> Integer.toUnsignedLong(((bpfmap_data_entry) m).getKeysBytes())
                    + Integer.toUnsignedLong(((bpfmap_data_entry) m).getValuesBytes());
            case IPC_SHM -> {
                long size = ((ipc_shm_entry) m).getSize();
                yield size < 0 || size > Long.MAX_VALUE - 8 ? -1 : roundUp(size, 4);
            }
            case IPC_SEM -> roundUp(2 * Integer.toUnsignedLong(((ipc_sem_entry) m).getNsems()), 8);
        };
    }

    static long ipcMessageCount(Message m) {
        return Integer.toUnsignedLong(((ipc_msg_entry) m).getQnum());
    }

    /** Ghost data: the rest of the file after an unchunked ghost_file_entry, or a chunk's len. */
    static long ghostLength(int index, Message m, long left) {
        if (index == 0) {
            return ((ghost_file_entry) m).getChunks() ? 0 : left;
        }
        long len = ((ghost_chunk_entry) m).getLen();
        return len < 0 ? -1 : len;
    }

    static long roundUp(long x, long to) {
        return (x + to - 1) / to * to;
    }
}
