package org.qedkit.cli;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The ways QEMU's tools name an image, turned into a file and a format:
 * <ul>
 *   <li>a plain file name; {@code file:NAME} (the file protocol named, so that a colon in
 *       NAME is not read as a protocol); a relative name with a colon in its first part is
 *       shown as {@code ./NAME}, as QEMU shows it;</li>
 *   <li>{@code json:{…}}: QEMU's option tree as JSON (single or double quotes), e.g.
 *       {@code json:{'driver':'qed','file':{'driver':'file','filename':'a.qed'}}};</li>
 *   <li>with {@code --image-opts}: the same tree as {@code key=value} pairs with dotted
 *       keys ({@code driver=qed,file.filename=a.qed}).</li>
 * </ul>
 * Of the tree, {@code driver} (the format), {@code file.driver} (which must be the file
 * protocol) and the file name ({@code file.filename}, {@code file} or {@code filename}) are
 * used; options that change nothing for a mapped image are accepted.
 */
final class ImageNames {
    private ImageNames() {
    }

    /** An image as named: its file, and the format the name gave (null when it gave none). */
    record Named(Path file, String format) {
    }

    /** Resolves {@code name}; {@code imageOpts} says it is a {@code key=value} option string. */
    static Named resolve(String name, boolean imageOpts) {
        if (imageOpts) {
            return fromOptions(IoSession.parseOptions(name), name);
        }
        if (name.startsWith("json:")) {
            return fromOptions(jsonOptions(name), name);
        }
        return new Named(plainFile(name), null);
    }

    /** The option tree of a {@code json:{…}} name, flattened to dotted keys ({@code file.filename}). */
    static Map<String, String> jsonOptions(String name) {
        Map<String, String> options = new LinkedHashMap<>();
        flatten("", new JsonReader(name.substring("json:".length())).value(), options);
        return options;
    }

    /** A plain name: {@code file:} dropped, and {@code ./} before a relative name whose first part has a colon. */
    static Path plainFile(String name) {
        String file = name.startsWith("file:") ? name.substring("file:".length()) : name;
        int colon = file.indexOf(':');
        int slash = file.indexOf('/');
        if (colon >= 0 && (slash < 0 || colon < slash)) {
            file = "./" + file;
        }
        return Path.of(file);
    }

    private static Named fromOptions(Map<String, String> options, String name) {
        String fileDriver = options.get("file.driver");
        if (fileDriver != null && !fileDriver.equals("file")) {
            throw new CliException("Could not open '" + name + "': the '" + fileDriver
                    + "' driver under the image is not supported by qed (only the file protocol)");
        }
        String file = options.getOrDefault("file.filename", options.getOrDefault("file", options.get("filename")));
        if (file == null) {
            throw new CliException("Could not open '" + name + "': A block device must be specified for \"file\"");
        }
        return new Named(Path.of(file), options.get("driver"));
    }

    private static void flatten(String prefix, Object value, Map<String, String> into) {
        if (value instanceof Map<?, ?> object) {
            for (Map.Entry<?, ?> e : object.entrySet()) {
                flatten(prefix.isEmpty() ? (String) e.getKey() : prefix + "." + e.getKey(), e.getValue(), into);
            }
        } else {
            into.put(prefix, String.valueOf(value));
        }
    }

    /** Just enough JSON for QEMU's option trees: objects, strings in either quote, numbers, true/false/null, arrays. */
    private static final class JsonReader {
        private final String text;
        private int at;

        JsonReader(String text) {
            this.text = text;
        }

        Object value() {
            skipSpace();
            if (at >= text.length()) {
                throw bad("a value");
            }
            char c = text.charAt(at);
            if (c == '{') {
                return object();
            }
            if (c == '[') {
                at++;
                java.util.List<Object> items = new java.util.ArrayList<>();
                skipSpace();
                if (peek() == ']') {
                    at++;
                    return items;
                }
                while (true) {
                    items.add(value());
                    skipSpace();
                    char next = take();
                    if (next == ']') {
                        return items;
                    }
                    if (next != ',') {
                        throw bad("',' or ']'");
                    }
                }
            }
            if (c == '\'' || c == '"') {
                return string();
            }
            int start = at;
            while (at < text.length() && ",}] \t\n".indexOf(text.charAt(at)) < 0) {
                at++;
            }
            return text.substring(start, at);
        }

        private Map<String, Object> object() {
            Map<String, Object> object = new LinkedHashMap<>();
            at++; // {
            skipSpace();
            if (peek() == '}') {
                at++;
                return object;
            }
            while (true) {
                skipSpace();
                String key = string();
                skipSpace();
                if (take() != ':') {
                    throw bad("':'");
                }
                object.put(key, value());
                skipSpace();
                char next = take();
                if (next == '}') {
                    return object;
                }
                if (next != ',') {
                    throw bad("',' or '}'");
                }
            }
        }

        private String string() {
            char quote = take();
            if (quote != '\'' && quote != '"') {
                throw bad("a string");
            }
            StringBuilder s = new StringBuilder();
            while (at < text.length() && text.charAt(at) != quote) {
                char c = text.charAt(at++);
                s.append(c == '\\' && at < text.length() ? text.charAt(at++) : c);
            }
            take();
            return s.toString();
        }

        private void skipSpace() {
            while (at < text.length() && Character.isWhitespace(text.charAt(at))) {
                at++;
            }
        }

        private char peek() {
            return at < text.length() ? text.charAt(at) : '\0';
        }

        private char take() {
            if (at >= text.length()) {
                throw bad("more");
            }
            return text.charAt(at++);
        }

        private CliException bad(String expected) {
            return new CliException("Could not parse JSON: expected " + expected + " at offset " + at
                    + " of 'json:" + text + "'");
        }
    }
}
