package dev.cryo.image;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** JSON as plain Java values for structural comparison, and crit 3.17's view of Cryo's (CRIU 4.x) schema. */
final class JsonTree {
    /**
     * Fields Cryo knows from CRIU 4.x that Debian's crit 3.17 does not: crit drops them when decoding and
     * ignores them when encoding, so comparisons with crit leave them out.
     */
    static final Map<String, Set<String>> NEWER_THAN_CRIT_317 = Map.ofEntries(
            Map.entry("inventory_entry", Set.of("plugins_entry", "dump_criu_run_id", "allow_uprobes")),
            Map.entry("user_x86_xsave_entry", Set.of("cet")),
            Map.entry("pagemap_entry", Set.of("nr_pages")),
            Map.entry("task_core_entry", Set.of("stop_signo", "membarrier_registration_mask")),
            Map.entry("thread_core_entry", Set.of("cg_set")),
            Map.entry("creds_entry", Set.of("no_new_privs", "cap_amb")),
            Map.entry("ip_opts_entry", Set.of("pktinfo", "tos", "ttl")),
            Map.entry("inet_sk_entry", Set.of("tcp_opts")),
            Map.entry("netns_entry", Set.of("ipv4_sysctl")),
            Map.entry("memfd_inode_entry", Set.of("mode")),
            Map.entry("cg_controller_entry", Set.of("is_threaded")),
            Map.entry("file_entry", Set.of("pidfd")),
            Map.entry("thread_info_aarch64", Set.of("pac_keys")));
    /** CRIU 4.x renamed pagemap_entry field 2; crit 3.17 still calls it nr_pages. */
    static final Map<String, Map<String, String>> RENAMED_SINCE_CRIT_317 =
            Map.of("pagemap_entry", Map.of("compat_nr_pages", "nr_pages"));

    private JsonTree() {
    }

    static Object parse(String json) throws Json.SyntaxError {
        return plain(Json.parse(json));
    }

    private static Object plain(Json.Value v) {
        if (v instanceof Json.Obj o) {
            Map<String, Object> m = new LinkedHashMap<>();
            o.members().forEach((k, x) -> m.put(k, plain(x)));
            return m;
        }
        if (v instanceof Json.Arr a) {
            List<Object> l = new ArrayList<>();
            a.items().forEach(x -> l.add(plain(x)));
            return l;
        }
        if (v instanceof Json.Str s) {
            return s.value();
        }
        if (v instanceof Json.Num n) {
            return n.integral() ? new BigInteger(n.text()) : new java.math.BigDecimal(n.text());
        }
        if (v instanceof Json.Bool b) {
            return b.value();
        }
        return null;
    }

    /** The image JSON ({"magic", "entries"}) as crit 3.17 sees the same binary image. */
    @SuppressWarnings("unchecked")
    static Object critView(Object image) {
        Map<String, Object> top = new LinkedHashMap<>((Map<String, Object>) image);
        ImageType type = ImageType.forMagic((String) top.get("magic")).orElseThrow();
        List<Object> entries = new ArrayList<>();
        List<Object> in = (List<Object>) top.get("entries");
        boolean chunks = false;
        for (int i = 0; i < in.size(); i++) {
            Map<String, Object> e = (Map<String, Object>) in.get(i);
            if (type.layout() == ImageType.Layout.GHOST_FILE && i == 0) {
                chunks = Boolean.TRUE.equals(e.get("chunks"));
            }
            entries.add(project(e, type.prototypeAt(i, chunks).getDescriptorForType()));
        }
        top.put("entries", entries);
        return top;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> project(Map<String, Object> obj, Descriptor d) {
        Set<String> newer = NEWER_THAN_CRIT_317.getOrDefault(d.getName(), Set.of());
        Map<String, String> renamed = RENAMED_SINCE_CRIT_317.getOrDefault(d.getName(), Map.of());
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : obj.entrySet()) {
            String key = e.getKey();
            if (newer.contains(key)) {
                continue;
            }
            FieldDescriptor f = d.findFieldByName(key);
            Object v = e.getValue();
            if (f != null && f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                if (v instanceof List<?> l) {
                    List<Object> pl = new ArrayList<>();
                    for (Object x : l) {
                        pl.add(project((Map<String, Object>) x, f.getMessageType()));
                    }
                    v = pl;
                } else {
                    v = project((Map<String, Object>) v, f.getMessageType());
                }
            }
            out.put(renamed.getOrDefault(key, key), v);
        }
        return out;
    }
}
