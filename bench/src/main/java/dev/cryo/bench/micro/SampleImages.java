package dev.cryo.bench.micro;

import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.cryo.image.ImageFile;
import dev.cryo.image.PageMap;
import dev.cryo.image.proto.core_entry;
import dev.cryo.image.proto.file_entry;
import dev.cryo.image.proto.mm_entry;
import dev.cryo.image.proto.pagemap_head;
import dev.cryo.image.proto.reg_file_entry;
import dev.cryo.image.proto.user_x86_fpregs_entry;
import dev.cryo.image.proto.user_x86_xsave_entry;
import dev.cryo.image.proto.vma_entry;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Images shaped like the ones a dump of a real process writes (a core with its FPU state, an mm with many VMAs,
 * a pagemap with many runs, a files table), built without a process so the codec benches need nothing else.
 */
public final class SampleImages {
    private SampleImages() {
    }

    /** core-PID.img of one x86_64 thread: registers, FPU and xsave area as a dump stores them. */
    public static ImageFile core() {
        core_entry.Builder b = core_entry.newBuilder().setMtype(core_entry.march.X86_64);
        user_x86_fpregs_entry.Builder fp = b.getThreadInfoBuilder().getFpregsBuilder();
        for (int i = 0; i < 32; i++) {
            fp.addStSpace(i * 31);
        }
        for (int i = 0; i < 64; i++) {
            fp.addXmmSpace(i * 17);
        }
        for (int i = 0; i < 24; i++) {
            fp.addPadding(0);
        }
        user_x86_xsave_entry.Builder xs = fp.getXsaveBuilder().setXstateBv(7);
        for (int i = 0; i < 64; i++) {
            xs.addYmmhSpace(i * 13);
        }
        b.getTcBuilder().setComm("memory");
        b.getThreadCoreBuilder();
        fillRequired(b, new Random(1));
        return ImageFile.of("CORE", List.of(b.build()));
    }

    /** mm-PID.img with {@code vmas} VMAs, each followed by a guard gap, as the memory fixture lays them out. */
    public static ImageFile mm(int vmas) {
        mm_entry.Builder b = mm_entry.newBuilder();
        fillRequired(b, new Random(2));
        long addr = 0x7f00_0000_0000L;
        for (int i = 0; i < vmas; i++) {
            long len = (1L + (i * 7919L) % 64) << 12;
            b.addVmas(vma_entry.newBuilder().setStart(addr).setEnd(addr + len).setPgoff(0).setShmid(0)
                    .setProt(3).setFlags(0x22).setStatus(0x201).setFd(-1));
            addr += len + 4096;
        }
        for (int i = 0; i < 44; i++) {
            b.addMmSavedAuxv(i * 0x1000L);
        }
        return ImageFile.of("MM", List.of(b.build()));
    }

    /** pagemap-PID.img with {@code runs} runs of present pages. */
    public static ImageFile pagemap(int runs) {
        List<Message> entries = new ArrayList<>(runs + 1);
        entries.add(pagemap_head.newBuilder().setPagesId(1).build());
        long addr = 0x7f00_0000_0000L;
        for (int i = 0; i < runs; i++) {
            long pages = 1 + (i * 7919L) % 64;
            entries.add(PageMap.entry(addr, pages, PageMap.PE_PRESENT));
            addr += (pages + 1) << 12;
        }
        return ImageFile.of("PAGEMAP", entries);
    }

    /** files.img with {@code count} regular files. */
    public static ImageFile files(int count) {
        List<Message> entries = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            reg_file_entry.Builder reg = reg_file_entry.newBuilder();
            fillRequired(reg, new Random(i));
            reg.setId(i + 1).setName("/var/lib/app/data-" + i + ".db").setPos(i * 4096L).setSize(1L << 20);
            file_entry.Builder f = file_entry.newBuilder();
            fillRequired(f, new Random(i));
            entries.add(f.setId(i + 1).setReg(reg).build());
        }
        return ImageFile.of("FILES", entries);
    }

    /** Sets every required field left unset, recursively, to a plausible value: the codec rejects partial messages. */
    static void fillRequired(Message.Builder b, Random random) {
        for (FieldDescriptor f : b.getDescriptorForType().getFields()) {
            if (f.isRequired() && !b.hasField(f)) {
                b.setField(f, sample(b, f, random));
            } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE && !f.isRepeated() && b.hasField(f)) {
                fillRequired(b.getFieldBuilder(f), random);
            }
        }
    }

    private static Object sample(Message.Builder parent, FieldDescriptor f, Random random) {
        return switch (f.getJavaType()) {
            case INT -> random.nextInt(1 << 20);
            case LONG -> random.nextLong() >>> 16;
            case BOOLEAN -> Boolean.FALSE;
            case FLOAT -> 0f;
            case DOUBLE -> 0d;
            case STRING -> f.getName();
            case BYTE_STRING -> com.google.protobuf.ByteString.copyFromUtf8(f.getName());
            case ENUM -> firstValue(f.getEnumType());
            case MESSAGE -> {
                Message.Builder child = parent.newBuilderForField(f);
                fillRequired(child, random);
                yield child.build();
            }
        };
    }

    private static Object firstValue(EnumDescriptor e) {
        return e.getValues().get(0);
    }
}
