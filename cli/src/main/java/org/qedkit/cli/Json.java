package org.qedkit.cli;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes JSON objects the way QEMU's tools print them: four-space indentation, keys in
 * insertion order, one key per line.
 */
final class Json {
    private Json() {
    }

    static String write(Map<String, ?> object) {
        StringBuilder out = new StringBuilder();
        value(out, object, 0);
        return out.append('\n').toString();
    }

    /** A top-level array of objects, as qemu-img prints --backing-chain. */
    static String writeArray(java.util.List<? extends Map<String, ?>> objects) {
        StringBuilder out = new StringBuilder("[\n");
        for (int i = 0; i < objects.size(); i++) {
            out.append("    ");
            value(out, objects.get(i), 1);
            out.append(i + 1 < objects.size() ? ",\n" : "\n");
        }
        return out.append("]\n").toString();
    }

    static Map<String, Object> object() {
        return new LinkedHashMap<>();
    }

    private static void value(StringBuilder out, Object v, int depth) {
        if (v instanceof Map<?, ?> map) {
            out.append("{\n");
            int i = 0;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                indent(out, depth + 1);
                string(out, String.valueOf(e.getKey()));
                out.append(": ");
                value(out, e.getValue(), depth + 1);
                out.append(++i < map.size() ? ",\n" : "\n");
            }
            indent(out, depth);
            out.append('}');
        } else if (v instanceof String s) {
            string(out, s);
        } else {
            out.append(v); // numbers and booleans
        }
    }

    private static void indent(StringBuilder out, int depth) {
        out.append("    ".repeat(depth));
    }

    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
