package dev.cryo.engine.proc;

import java.util.HashMap;
import java.util.Map;

/** /proc/PID/status as key/value pairs, with typed getters for what the engine reads. */
public record TaskStatus(Map<String, String> fields) {
    static TaskStatus parse(String text) {
        Map<String, String> m = new HashMap<>();
        for (String line : text.split("\n")) {
            int c = line.indexOf(':');
            if (c > 0) {
                m.put(line.substring(0, c), line.substring(c + 1).trim());
            }
        }
        return new TaskStatus(Map.copyOf(m));
    }

    public String get(String key) {
        return fields.getOrDefault(key, "");
    }

    /** The four ids of a "Uid:" or "Gid:" line: real, effective, saved, filesystem. */
    public int[] ids(String key) {
        String[] p = get(key).split("\\s+");
        int[] ids = new int[4];
        for (int i = 0; i < 4 && i < p.length; i++) {
            ids[i] = (int) Long.parseLong(p[i]);
        }
        return ids;
    }

    public int[] groups() {
        String g = get("Groups").trim();
        if (g.isEmpty()) {
            return new int[0];
        }
        String[] p = g.split("\\s+");
        int[] out = new int[p.length];
        for (int i = 0; i < p.length; i++) {
            out[i] = (int) Long.parseLong(p[i]);
        }
        return out;
    }

    public long hex(String key) {
        String v = get(key);
        return v.isEmpty() ? 0 : Long.parseUnsignedLong(v, 16);
    }

    public int umask() {
        String v = get("Umask");
        return v.isEmpty() ? 022 : Integer.parseInt(v, 8);
    }

    public int threads() {
        return Integer.parseInt(get("Threads"));
    }

    public int seccompMode() {
        String v = get("Seccomp");
        return v.isEmpty() ? 0 : Integer.parseInt(v);
    }
}
