package dev.cryo.image;

import dev.cryo.image.proto.*;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class CritJsonTest {

    private static ImageFormatException fails(String json) {
        return assertThrows(ImageFormatException.class, () -> CritJson.fromJson(json, "x.json"));
    }

    @Test
    void prettyPrintsLikeCritDecode() {
        ImageFile img = ImageFile.of("PSTREE", List.of(ImageFileTest.INIT));
        assertEquals("""
                {
                    "magic": "PSTREE",
                    "entries": [
                        {
                            "pid": 1,
                            "ppid": 0,
                            "pgid": 1,
                            "sid": 1,
                            "threads": [
                                1
                            ]
                        }
                    ]
                }""", CritJson.toJson(img));
    }

    @Test
    void emptyMessagesAndListsPrintCompact() {
        assertEquals("{\n    \"magic\": \"SECCOMP\",\n    \"entries\": [\n        {}\n    ]\n}",
                CritJson.toJson(ImageFile.of("SECCOMP", List.of(seccomp_entry.getDefaultInstance()))));
        assertEquals("{\n    \"magic\": \"SECCOMP\",\n    \"entries\": []\n}",
                CritJson.toJson(ImageFile.of("SECCOMP", List.of())));
    }

    @Test
    void hexIsInheritedByEveryFieldOfAMarkedMessage() throws Exception {
        String json = CritJson.toJson(CritJson.fromJson("""
                {"magic": "CORE", "entries": [{"mtype": "X86_64", "thread_info": {"clear_tid_addr": 16,
                 "gpregs": {"r15": 1, "r14": 2, "r13": 3, "r12": 4, "bp": 5, "bx": 6, "r11": 7, "r10": 8, "r9": 9,
                 "r8": 10, "ax": 18446744073709551615, "cx": 0, "dx": 0, "si": 0, "di": 0, "orig_ax": 0, "ip": 0,
                 "cs": 0, "flags": 0, "sp": 0, "ss": 0, "fs_base": 0, "gs_base": 0, "ds": 0, "es": 0, "fs": 0,
                 "gs": 0, "mode": "COMPAT"},
                 "fpregs": {"cwd": 1, "swd": 0, "twd": 0, "fop": 0, "rip": 0, "rdp": 0, "mxcsr": 0, "mxcsr_mask": 0}}}]}
                """, "core.json"));
        assertTrue(json.contains("\"clear_tid_addr\": \"0x10\""), json);
        assertTrue(json.contains("\"ax\": \"0xffffffffffffffff\""), json);
        assertTrue(json.contains("\"mode\": \"COMPAT\""), json);
        assertTrue(json.contains("\"cwd\": 1"), json);
    }

    @Test
    void acceptsTheIntegerSpellingsPythonAccepts() throws Exception {
        for (String v : List.of("\"0x1F\"", "\"0o37\"", "\"0b11111\"", "\"31\"", "\" 3_1 \"", "31", "\"0X_1f\"")) {
            ImageFile img = CritJson.fromJson("{\"magic\": \"FS\", \"entries\": [{\"cwd_id\": " + v + ", \"root_id\": 1}]}", "fs.json");
            assertEquals(31, ((fs_entry) img.entries().get(0)).getCwdId(), v);
        }
        for (String v : List.of("\"031\"", "\"0x\"", "\"1__0\"", "\"_1\"", "\"1.0\"", "1.5", "\"\"", "true")) {
            fails("{\"magic\": \"FS\", \"entries\": [{\"cwd_id\": " + v + ", \"root_id\": 1}]}");
        }
    }

    @Test
    void outOfRangeValueNamesFieldAndOffset() {
        ImageFormatException e = fails("{\"magic\": \"FS\", \"entries\": [{\"cwd_id\": 4294967296, \"root_id\": 1}]}");
        assertEquals("x.json: offset 39: value 4294967296 out of range for uint32 field fs_entry.cwd_id", e.getMessage());
    }

    @Test
    void unknownFieldIsAnErrorNotSilentlyDropped() {
        ImageFormatException e = fails("{\"magic\": \"FS\", \"entries\": [{\"cwd\": 1}]}");
        assertEquals("x.json: offset 29: fs_entry has no field \"cwd\"", e.getMessage());
    }

    @Test
    void missingRequiredFieldsAreNamed() {
        ImageFormatException e = fails("{\"magic\": \"FS\", \"entries\": [{\"cwd_id\": 1}]}");
        assertEquals("x.json: offset 28: entry 0 (fs_entry) misses required fields [root_id]", e.getMessage());
    }

    @Test
    void syntaxErrorsCarryTheirOffset() {
        assertEquals("x.json: offset 9: invalid JSON: expected ':'", fails("{\"magic\" \"FS\"}").getMessage());
        assertEquals("x.json: offset 1: invalid JSON: unterminated string", fails("[\"abc").getMessage());
        assertTrue(fails("[".repeat(100000)).getMessage().contains("nesting deeper than"));
    }

    @Test
    void unpairedSurrogatesAreRefusedBecauseUtf8CannotHoldThem() {
        ImageFormatException e = fails("{\"magic\": \"UTSNS\", \"entries\": [{\"nodename\": \"a\\ude00\", \"domainname\": \"\"}]}");
        assertEquals("x.json: offset 44: utsns_entry.nodename is not valid Unicode: unpaired surrogate \\ude00 at character 1",
                e.getMessage());
    }

    @Test
    void unknownMagicIsNamed() {
        assertEquals("x.json: offset 10: unknown magic \"NOPE\"", fails("{\"magic\": \"NOPE\", \"entries\": []}").getMessage());
    }

    @Test
    void payloadMustMatchItsMessage() {
        ImageFormatException e = fails("{\"magic\": \"PIPES_DATA\", \"entries\": [{\"pipe_id\": 1, \"bytes\": 4, \"extra\": \"YWJj\\n\"}]}");
        assertTrue(e.getMessage().endsWith("pipe_data_entry announces 4 payload bytes but extra holds 3"), e.getMessage());
    }

    @Test
    void flagsRenderNamesThenLeftoverBits() throws Exception {
        vma_entry vma = vma_entry.newBuilder().setStart(0x1000).setEnd(0x2000).setPgoff(0).setShmid(0).setProt(0)
                .setFlags(0x22 | 0x8000).setStatus(0x201).setFd(-1).build();
        String json = CritJson.toJson(ImageFile.of("VMAS", List.of(vma)));
        assertTrue(json.contains("\"prot\": \"\""), json);
        assertTrue(json.contains("\"flags\": \"MAP_PRIVATE | MAP_ANON | 0x8000\""), json);
        assertTrue(json.contains("\"status\": \"VMA_AREA_REGULAR | VMA_ANON_PRIVATE\""), json);
        assertTrue(json.contains("\"fd\": -1"), json);
        assertEquals(vma, CritJson.fromJson(json, "vmas.json").entries().get(0));
    }

    @Test
    void addressesRenderLikePythonsIpaddress() {
        assertEquals("127.0.0.1", AddressText.render(AddressText.parse("127.0.0.1")));
        assertEquals("::", AddressText.render(AddressText.parse("::")));
        assertEquals("::1", AddressText.render(AddressText.parse("0:0:0:0:0:0:0:1")));
        assertEquals("1::", AddressText.render(AddressText.parse("1:0:0:0:0:0:0:0")));
        assertEquals("1:0:0:1::1", AddressText.render(AddressText.parse("1:0:0:1:0:0:0:1")));
        assertEquals("1::1:0:0:1", AddressText.render(AddressText.parse("1:0:0:0:1:0:0:1")));
        assertEquals("1:2:3:4:5:6:7:0", AddressText.render(AddressText.parse("1:2:3:4:5:6:7:0")));
        assertEquals("::ffff:7f00:1", AddressText.render(AddressText.parse("::ffff:127.0.0.1")));
        assertThrows(IllegalArgumentException.class, () -> AddressText.parse("1:::2"));
        assertThrows(IllegalArgumentException.class, () -> AddressText.parse("01.2.3.4"));
        assertThrows(IllegalArgumentException.class, () -> AddressText.parse("1:2:3:4:5:6:7:8:9"));
    }

    @Test
    void devicesRenderMajorMinor() {
        assertEquals("8:1", DeviceText.render(8 << 20 | 1, false));
        assertEquals("8:1", DeviceText.render(0x801, true));
        assertEquals("4095:1048575", DeviceText.render(DeviceText.parse("4095:1048575", true).longValue(), true));
    }

    @Test
    void quotedPrintableMatchesPythonsBinascii() {
        assertEquals("=00abc=3D", QuotedPrintable.encode(new byte[] {0, 'a', 'b', 'c', '='}));
        assertEquals("a=20", QuotedPrintable.encode(new byte[] {'a', ' '}));
        assertEquals("a=20\nb", QuotedPrintable.encode("a \nb".getBytes()));
        assertEquals("=2E", QuotedPrintable.encode(".".getBytes()));
        assertEquals("x".repeat(75) + "=\nxx", QuotedPrintable.encode("x".repeat(77).getBytes()));
        assertArrayEquals("a \nb".getBytes(), QuotedPrintable.decode("a=20\nb"));
        assertArrayEquals("ab".getBytes(), QuotedPrintable.decode("a=\nb"));
    }

    @Test
    void lineEndsCritsTextModeWouldAlterAreEscaped() {
        // crit picks LF or CRLF line ends from the first newline; "x\ny\r\n" would come back as "x\ny\n".
        assertEquals("x=0Ay=0D=0A", QuotedPrintable.encode("x\ny\r\n".getBytes()));
        assertArrayEquals("x\ny\r\n".getBytes(), QuotedPrintable.decode(QuotedPrintable.encode("x\ny\r\n".getBytes())));
        assertEquals("a\r\nb", QuotedPrintable.encode("a\r\nb".getBytes()));
        assertEquals("a\nb", QuotedPrintable.encode("a\nb".getBytes()));
    }
}
