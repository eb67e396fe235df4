package dev.cryo.image;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.cryo.image.proto.*;
import org.junit.jupiter.api.Test;
import org.quicktheories.core.Gen;
import org.quicktheories.generators.Generate;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.*;

/** Arbitrary entries survive writer -> reader, in binary and in crit JSON. A failure prints its seed (-DQT_SEED=N). */
class ImageRoundTripProperties {

    static Gen<Long> anyLong() {
        return longs().all().mix(Generate.pick(List.of(0L, -1L, Long.MIN_VALUE, Long.MAX_VALUE, 0xffff_ffffL)));
    }

    static Gen<Integer> anyInt() {
        return integers().all().mix(Generate.pick(List.of(0, -1, Integer.MIN_VALUE, Integer.MAX_VALUE)));
    }

    static <T> Gen<List<T>> listOf(Gen<T> g, int max) {
        return lists().of(g).ofSizeBetween(0, max);
    }

    /** Text without lone surrogates (they cannot be stored as UTF-8, in CRIU or here). */
    static Gen<String> text() {
        Gen<Integer> cp = Generate.frequency(List.of(
                org.quicktheories.api.Pair.of(6, integers().between(0x20, 0x7e)),
                org.quicktheories.api.Pair.of(1, integers().between(0, 0x1f)),
                org.quicktheories.api.Pair.of(2, integers().between(0x80, 0xd7ff)),
                org.quicktheories.api.Pair.of(1, integers().between(0x10000, 0x10ffff))));
        return lists().of(cp).ofSizeBetween(0, 40).map(l -> {
            StringBuilder b = new StringBuilder();
            l.forEach(b::appendCodePoint);
            return b.toString();
        });
    }

    static Gen<byte[]> bytes(int max) {
        return Generate.byteArrays(integers().between(0, max), Generate.bytes(Byte.MIN_VALUE, Byte.MAX_VALUE, (byte) 0));
    }

    /** Writes, reads back, renders as JSON, parses again: every step must give the same image. */
    static void assertRoundTrips(ImageFile img) throws Exception {
        ImageFile fromBinary = ImageFile.read("prop.img", img.toBytes());
        assertEquals(img, fromBinary);
        String json = CritJson.toJson(img);
        ImageFile fromJson = CritJson.fromJson(json, "prop.json");
        assertEquals(img, fromJson);
        assertEquals(json, CritJson.toJson(fromJson));
    }

    interface Check<T> {
        void check(T t) throws Exception;
    }

    static <T> java.util.function.Consumer<T> unchecked(Check<T> c) {
        return t -> {
            try {
                c.check(t);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        };
    }

    // ---- pagemap runs

    static Gen<pagemap_entry> pagemapEntries() {
        Gen<pagemap_entry> current = anyLong().zip(longs().between(0, 1L << 40), integers().between(0, 7),
                (vaddr, n, flags) -> PageMap.entry(vaddr & -4096L, n, flags));
        Gen<pagemap_entry> legacy = anyLong().zip(anyInt(), booleans().all(), (vaddr, n, parent) ->
                pagemap_entry.newBuilder().setVaddr(vaddr).setCompatNrPages(n).setInParent(parent).build());
        return current.mix(legacy, 20);
    }

    @Test
    void pagemapRunsRoundTrip() {
        qt().withExamples(500).forAll(integers().all(), listOf(pagemapEntries(), 30)).checkAssert((id, runs) ->
                unchecked((Check<List<pagemap_entry>>) r -> {
                    List<Message> entries = new ArrayList<>();
                    entries.add(pagemap_head.newBuilder().setPagesId(id).build());
                    entries.addAll(r);
                    assertRoundTrips(ImageFile.of("PAGEMAP", entries));
                }).accept(runs));
    }

    @Test
    void pageRunsKeepTheirCountAndFlags() {
        qt().withExamples(500).forAll(anyLong(), longs().between(0, Long.MAX_VALUE / 4096), integers().between(0, 7))
                .checkAssert((vaddr, n, flags) -> {
                    PageMap.PageRun run = new PageMap(1, List.of(PageMap.entry(vaddr, n, flags))).runs().get(0);
                    assertEquals(new PageMap.PageRun(vaddr, n, flags), run);
                });
    }

    // ---- VMAs

    static Gen<vma_entry> vmas() {
        Gen<vma_entry> base = anyLong().zip(anyLong(), anyLong(), anyLong(), (start, end, pgoff, shmid) ->
                vma_entry.newBuilder().setStart(start).setEnd(end).setPgoff(pgoff).setShmid(shmid).buildPartial());
        return base.zip(anyInt(), anyInt(), anyInt(), anyLong(), (v, prot, flags, status, fd) ->
                v.toBuilder().setProt(prot).setFlags(flags).setStatus(status).setFd(fd).build())
                .zip(anyLong().toOptionals(50), anyInt().toOptionals(50), (v, madv, fdflags) -> {
                    vma_entry.Builder b = v.toBuilder();
                    madv.ifPresent(b::setMadv);
                    fdflags.ifPresent(b::setFdflags);
                    return b.build();
                });
    }

    @Test
    void vmasRoundTrip() {
        qt().withExamples(300).forAll(listOf(vmas(), 20), listOf(anyLong(), 40), anyLong())
                .checkAssert((vmas, auxv, brk) -> unchecked((Check<mm_entry>) mm ->
                        assertRoundTrips(ImageFile.of("MM", List.of(mm)))).accept(mm_entry.newBuilder()
                        .setMmStartCode(brk).setMmEndCode(brk + 1).setMmStartData(0).setMmEndData(0)
                        .setMmStartStack(-1).setMmStartBrk(brk).setMmBrk(brk).setMmArgStart(0).setMmArgEnd(0)
                        .setMmEnvStart(0).setMmEnvEnd(0).setExeFileId(1).addAllMmSavedAuxv(auxv).addAllVmas(vmas)
                        .setDumpable(1).build()));
    }

    // ---- register sets

    static Gen<user_x86_regs_entry> gpregs() {
        return lists().of(anyLong()).ofSize(27).zip(Generate.enumValues(user_x86_regs_mode.class), (r, mode) ->
                user_x86_regs_entry.newBuilder().setR15(r.get(0)).setR14(r.get(1)).setR13(r.get(2)).setR12(r.get(3))
                        .setBp(r.get(4)).setBx(r.get(5)).setR11(r.get(6)).setR10(r.get(7)).setR9(r.get(8))
                        .setR8(r.get(9)).setAx(r.get(10)).setCx(r.get(11)).setDx(r.get(12)).setSi(r.get(13))
                        .setDi(r.get(14)).setOrigAx(r.get(15)).setIp(r.get(16)).setCs(r.get(17)).setFlags(r.get(18))
                        .setSp(r.get(19)).setSs(r.get(20)).setFsBase(r.get(21)).setGsBase(r.get(22)).setDs(r.get(23))
                        .setEs(r.get(24)).setFs(r.get(25)).setGs(r.get(26)).setMode(mode).build());
    }

    static Gen<user_x86_fpregs_entry> fpregs() {
        Gen<user_x86_xsave_entry> xsave = anyLong().zip(listOf(anyInt(), 64), listOf(anyLong(), 128),
                anyLong().toOptionals(50), (bv, ymmh, zmm, cet) -> {
                    user_x86_xsave_entry.Builder b = user_x86_xsave_entry.newBuilder().setXstateBv(bv)
                            .addAllYmmhSpace(ymmh).addAllHi16Zmm(zmm).addAllOpmaskReg(zmm.subList(0, Math.min(8, zmm.size())));
                    cet.ifPresent(c -> b.setCet(user_x86_cet_entry.newBuilder().setCet(c).setSsp(~c)));
                    return b.build();
                });
        return lists().of(anyInt()).ofSize(8).zip(listOf(anyInt(), 64), xsave.toOptionals(70), (w, space, xs) -> {
            user_x86_fpregs_entry.Builder b = user_x86_fpregs_entry.newBuilder().setCwd(w.get(0)).setSwd(w.get(1))
                    .setTwd(w.get(2)).setFop(w.get(3)).setRip(w.get(4) * 31L).setRdp(w.get(5)).setMxcsr(w.get(6))
                    .setMxcsrMask(w.get(7)).addAllStSpace(space.subList(0, Math.min(32, space.size())))
                    .addAllXmmSpace(space);
            xs.ifPresent(b::setXsave);
            return b.build();
        });
    }

    static Gen<sa_entry> sigactions() {
        return anyLong().zip(anyLong(), anyLong(), anyLong(), (h, f, r, m) -> sa_entry.newBuilder().setSigaction(h)
                .setFlags(f).setRestorer(r).setMask(m).setCompatSigaction(false).build());
    }

    @Test
    void registerSetsRoundTrip() {
        qt().withExamples(300).forAll(gpregs(), fpregs(), listOf(sigactions(), 64), anyLong())
                .checkAssert((gp, fp, sa, tid) -> unchecked((Check<core_entry>) core ->
                        assertRoundTrips(ImageFile.of("CORE", List.of(core)))).accept(core_entry.newBuilder()
                        .setMtype(core_entry.march.X86_64)
                        .setThreadInfo(thread_info_x86.newBuilder().setClearTidAddr(tid).setGpregs(gp).setFpregs(fp))
                        .setTc(task_core_entry.newBuilder().setTaskState((int) (tid & 7)).setExitCode(0).setPersonality(0)
                                .setFlags(0).setBlkSigset(tid).setComm("t").addAllSigactions(sa)
                                .setOomScoreAdj(tid.intValue()))
                        .setThreadCore(thread_core_entry.newBuilder().setFutexRla(tid).setFutexRlaLen(24)
                                .setSchedNice((int) (tid >> 32)).setBlkSigset(tid))
                        .build()));
    }

    // ---- file descriptors

    static fown_entry fown(int pid) {
        return fown_entry.newBuilder().setUid(0).setEuid(0).setSignum(0).setPidType(0).setPid(pid).build();
    }

    static final sk_opts_entry SK_OPTS = sk_opts_entry.newBuilder().setSoSndbuf(1).setSoRcvbuf(2).setSoSndTmoSec(0)
            .setSoSndTmoUsec(0).setSoRcvTmoSec(0).setSoRcvTmoUsec(0).build();

    static Gen<file_entry> regFiles() {
        return anyInt().zip(anyInt(), anyLong(), text(), (id, flags, pos, name) -> file_entry.newBuilder()
                .setType(fd_types.REG).setId(id).setReg(reg_file_entry.newBuilder().setId(id).setFlags(flags)
                        .setPos(pos).setFown(fown(id)).setName(name).setMntId(id >> 8).setSize(pos).setMode(flags))
                .build());
    }

    static Gen<file_entry> inetSockets() {
        Gen<List<Integer>> addr = lists().of(anyInt()).ofSizes(Generate.pick(List.of(0, 1, 4, 2)));
        return anyInt().zip(anyInt(), addr, addr, (id, word, src, dst) -> file_entry.newBuilder()
                .setType(fd_types.INETSK).setId(id).setIsk(inet_sk_entry.newBuilder().setId(id).setIno(word)
                        .setFamily(word & 31).setType(word >>> 27).setProto(word & 255).setState(word & 15)
                        .setSrcPort(word & 0xffff).setDstPort(word >>> 16).setFlags(word).setBacklog(id)
                        .addAllSrcAddr(src).addAllDstAddr(dst).setFown(fown(id)).setOpts(SK_OPTS))
                .build());
    }

    static Gen<file_entry> unixSockets() {
        return anyInt().zip(bytes(200), text(), (id, name, dir) -> file_entry.newBuilder().setType(fd_types.UNIXSK)
                .setId(id).setUsk(unix_sk_entry.newBuilder().setId(id).setIno(id).setType(id & 7).setState(id & 15)
                        .setFlags(id).setUflags(0).setBacklog(0).setPeer(0).setFown(fown(id)).setOpts(SK_OPTS)
                        .setName(ByteString.copyFrom(name)).setNameDir(dir))
                .build());
    }

    static Gen<file_entry> pipes() {
        return anyInt().zip(anyInt(), (id, flags) -> file_entry.newBuilder().setType(fd_types.PIPE).setId(id)
                .setPipe(pipe_entry.newBuilder().setId(id).setPipeId(id ^ flags).setFlags(flags).setFown(fown(0)))
                .build());
    }

    @Test
    void fileEntriesRoundTrip() {
        Gen<file_entry> any = Generate.oneOf(regFiles(), inetSockets(), unixSockets(), pipes());
        qt().withExamples(400).forAll(listOf(any, 12)).checkAssert(files ->
                unchecked((Check<List<file_entry>>) f -> assertRoundTrips(ImageFile.of("FILES", f))).accept(files));
    }

    @Test
    void fdinfoEntriesRoundTrip() {
        Gen<fdinfo_entry> fd = anyInt().zip(anyInt(), Generate.enumValues(fd_types.class), anyInt(), (id, flags, type, n) ->
                fdinfo_entry.newBuilder().setId(id).setFlags(flags).setType(type).setFd(n).build());
        qt().withExamples(300).forAll(listOf(fd, 20)).checkAssert(fds ->
                unchecked((Check<List<fdinfo_entry>>) f -> assertRoundTrips(ImageFile.of("FDINFO", f))).accept(fds));
    }

    @Test
    void payloadsRoundTrip() {
        qt().withExamples(300).forAll(bytes(300), bytes(300), anyInt()).checkAssert((in, out, id) ->
                unchecked((Check<Integer>) x -> {
                    byte[] both = new byte[in.length + out.length];
                    System.arraycopy(in, 0, both, 0, in.length);
                    System.arraycopy(out, 0, both, in.length, out.length);
                    tcp_stream_entry tcp = tcp_stream_entry.newBuilder().setInqLen(in.length).setInqSeq(id)
                            .setOutqLen(out.length).setOutqSeq(~id).setOptMask(id).setSndWscale(7).setMssClamp(1460).build();
                    assertRoundTrips(ImageFile.ofRecords("TCP_STREAM", List.of(new ImageEntry(tcp, both))));
                    pipe_data_entry pd = pipe_data_entry.newBuilder().setPipeId(id).setBytes(in.length).build();
                    assertRoundTrips(ImageFile.ofRecords("PIPES_DATA", List.of(new ImageEntry(pd, in),
                            new ImageEntry(pd.toBuilder().setBytes(out.length).build(), out))));
                }).accept(id));
    }
}
