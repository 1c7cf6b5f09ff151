package org.qedkit;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An image name as QEMU writes it into a backing-file field and takes it on its command
 * lines, turned into the file it stands for.
 *
 * <p>Three shapes: a plain path; {@code file:PATH} (the file protocol named, so a colon in
 * PATH is not read as a protocol); and {@code json:{…}}, QEMU's option tree as JSON (single
 * or double quotes), which QEMU writes into a backing-file field when the backing node
 * cannot be named by a path. Of a tree, the layers a mapped engine can stand behind are
 * followed down to the file: the format ({@code driver} {@code qed} or {@code raw}), the
 * {@code file} protocol ({@code filename}), QEMU's error-injection filter {@code blkdebug}
 * ({@code image}; its {@code inject-error} rules are kept, for the tools to honour, and its
 * {@code set-state} rules accepted) and {@code quorum} (its first child: the children of
 * a quorum hold the same data). Any other driver is refused, with its name.
 *
 * <p>What QEMU shows for such a name is kept too: a tree with a filter in it cannot be
 * written back as a path ({@link #reconstructable()} is false, and QEMU shows the
 * {@code json:} name), and under a quorum a relative backing file name has no directory
 * to be relative to ({@link #directoryKnown()} is false).
 *
 * @param file            the file the name stands for; a relative path is relative to the
 *                        working directory, as QEMU opens a file named in an option tree
 * @param format          the format the name gives ({@code qed} or {@code raw}), or null
 * @param reconstructable whether QEMU would show the plain file name for it
 * @param directoryKnown  whether the image has a directory (for backing names relative to it)
 * @param injectedErrors  blkdebug's {@code inject-error} rules, outermost filter first
 */
public record QemuImageName(Path file, String format, boolean reconstructable, boolean directoryKnown,
                            List<InjectedError> injectedErrors) {

    /**
     * One blkdebug {@code inject-error} rule: once {@code event} has happened ({@code none}:
     * from the start; {@code read_aio}, {@code write_aio}, {@code flush_to_disk}, …), requests
     * of {@code iotype} fail with {@code errno}; only the first such request when
     * {@code once}; only those touching {@code sector} (512-byte units) when it is not
     * negative.
     *
     * @param event  the blkdebug event name
     * @param iotype the kind of request that fails ({@code read}, {@code write},
     *               {@code write-zeroes}, {@code discard}, {@code flush}, {@code block-status}),
     *               or null for blkdebug's default: all of them but {@code block-status}
     * @param errno  the error number requests fail with (QEMU's default: EIO, 5)
     * @param once   whether only the first matching request fails
     * @param sector the sector a request must touch to fail, or -1 for any
     */
    public record InjectedError(String event, String iotype, int errno, boolean once, long sector) {

        /**
         * Tells whether requests of {@code kind} fail under this rule, by its
         * {@link #iotype()} or blkdebug's default set.
         *
         * @param kind a blkdebug I/O type ({@code read}, {@code block-status}, …)
         * @return true when the rule applies to that kind of request
         */
        public boolean failsRequestsOf(String kind) {
            return iotype != null ? iotype.equals(kind) : !kind.equals("block-status");
        }

        /**
         * Tells whether a request over {@code [offset, offset + length)} (bytes) touches the
         * rule's sector, as blkdebug decides it: a rule without a sector touches every
         * request; a sector is touched when its first byte is inside the request.
         *
         * @param offset the request's first byte
         * @param length the request's length in bytes
         * @return true when the request is one this rule can fail
         */
        public boolean touches(long offset, long length) {
            return sector < 0 || (length > 0 && sector * 512 >= offset && sector * 512 < offset + length);
        }
    }

    /** The canonical form. */
    public QemuImageName {
        injectedErrors = List.copyOf(injectedErrors);
    }

    /**
     * Tells a {@code json:} option tree from a path.
     *
     * @param name an image name
     * @return true when {@code name} is a {@code json:} option tree, not a path
     */
    public static boolean isJson(String name) {
        return name.startsWith("json:");
    }

    /**
     * Parses a name of any of the three shapes.
     *
     * @param name the name as given or stored
     * @return what it stands for
     * @throws IllegalArgumentException when it cannot be parsed, names no file, or names a
     *                                  driver the engine does not stand behind; the message
     *                                  says which key, which value and why
     */
    public static QemuImageName parse(String name) {
        if (isJson(name)) {
            return fromTree(new JsonReader(name.substring("json:".length())).value(), name);
        }
        return new QemuImageName(plainFile(name), null, true, true, List.of());
    }

    /**
     * Reads the same tree given as {@code key=value} options with dotted keys, as QEMU's
     * {@code --image-opts} takes them ({@code driver=qed,file.filename=a.qed}).
     *
     * @param options the options, keys dotted ({@code file.image.filename}), list items by index
     * @param shown   how to name the options in a message
     * @return what they stand for
     * @throws IllegalArgumentException as {@link #parse}
     */
    public static QemuImageName fromOptions(Map<String, String> options, String shown) {
        Map<String, Object> tree = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : options.entrySet()) {
            String[] keys = e.getKey().split("\\.");
            Map<String, Object> node = tree;
            for (int i = 0; i < keys.length - 1; i++) {
                Object child = node.computeIfAbsent(keys[i], k -> new LinkedHashMap<String, Object>());
                if (!(child instanceof Map<?, ?>)) {
                    throw new IllegalArgumentException("option '" + e.getKey() + "': '" + keys[i]
                            + "' has a value and cannot also have keys under it");
                }
                @SuppressWarnings("unchecked")
                Map<String, Object> next = (Map<String, Object>) child;
                node = next;
            }
            node.put(keys[keys.length - 1], e.getValue());
        }
        return fromTree(tree, shown);
    }

    /**
     * The option tree of a {@code json:} name flattened to dotted keys, as {@code --image-opts}
     * spells them ({@code file.filename}; list items by index, {@code children.0.filename}).
     *
     * @param jsonName a {@code json:{…}} name
     * @return its options, in the order they appear
     * @throws IllegalArgumentException when it cannot be parsed
     */
    public static Map<String, String> flatOptions(String jsonName) {
        if (!isJson(jsonName)) {
            throw new IllegalArgumentException("'" + jsonName + "' is not a json: name");
        }
        Map<String, String> options = new LinkedHashMap<>();
        flatten("", new JsonReader(jsonName.substring("json:".length())).value(), options);
        return options;
    }

    private static void flatten(String prefix, Object value, Map<String, String> into) {
        if (value instanceof Map<?, ?> object) {
            for (Map.Entry<?, ?> e : object.entrySet()) {
                flatten(key(prefix, (String) e.getKey()), e.getValue(), into);
            }
        } else if (value instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                flatten(key(prefix, Integer.toString(i)), list.get(i), into);
            }
        } else {
            into.put(prefix, String.valueOf(value));
        }
    }

    /** A plain name: {@code file:} dropped, and {@code ./} before a relative name whose first part has a colon. */
    private static Path plainFile(String name) {
        String file = name.startsWith("file:") ? name.substring("file:".length()) : name;
        int colon = file.indexOf(':');
        int slash = file.indexOf('/');
        if (colon >= 0 && (slash < 0 || colon < slash)) {
            file = "./" + file; // as QEMU shows such a name, so the colon is not a protocol
        }
        return path(file, "filename");
    }

    private static Path path(String text, String key) {
        try {
            return Path.of(text);
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException("'" + key + "' is '" + text + "', which is not a usable path: "
                    + e.getReason());
        }
    }

    /*
     * The walk: the top layer is a format (qed, raw) or, without one, already a protocol.
     * Below a format, "file" is the protocol layer: a string (a file name) or a tree. Each
     * filter layer names its child ("image" for blkdebug, "children" for quorum); the walk
     * ends at the file protocol's "filename".
     */
    private static QemuImageName fromTree(Object tree, String shown) {
        Object root = withLists(tree);
        if (!(root instanceof Map<?, ?> top)) {
            throw new IllegalArgumentException("'" + shown + "' is not an option tree (a JSON object)");
        }
        String format = null;
        Object node = top;
        String where = "";
        Object driver = top.get("driver");
        if ("qed".equals(driver) || "raw".equals(driver) || (driver == null && top.containsKey("file"))) {
            format = (String) driver;
            node = top.containsKey("file") ? top.get("file") : top.get("filename"); // {"driver": "qed", "filename": …}
            where = "file";
        } else if (driver != null && !isProtocol(driver)) {
            throw new IllegalArgumentException("'driver' is '" + driver + "': qedkit opens qed and raw images only");
        }
        boolean reconstructable = true;
        boolean directoryKnown = true;
        List<InjectedError> errors = new ArrayList<>();
        while (true) {
            if (node == null) {
                throw new IllegalArgumentException("'" + shown + "' names no file: A block device must be specified for \""
                        + (where.isEmpty() ? "file" : where) + "\"");
            }
            if (node instanceof String name) {
                return new QemuImageName(path(name, key(where, "filename")), format, reconstructable, directoryKnown, errors);
            }
            if (!(node instanceof Map<?, ?> layer)) {
                throw new IllegalArgumentException("'" + where + "' is " + node + ": expected a file name or an option tree");
            }
            Object layerDriver = layer.containsKey("driver") ? layer.get("driver") : "file";
            switch (String.valueOf(layerDriver)) {
                case "file" -> {
                    node = layer.get("filename");
                    if (node == null) {
                        throw new IllegalArgumentException("'" + shown + "' names no file: the file protocol needs '"
                                + key(where, "filename") + "'");
                    }
                    where = key(where, "filename");
                }
                case "qed", "raw" -> {
                    if (format != null) {
                        throw new IllegalArgumentException("'" + key(where, "driver") + "' is '" + layerDriver
                                + "': a format under the format '" + format + "' is not an image qedkit opens");
                    }
                    format = (String) layerDriver; // a filter above the format: blkdebug over qed
                    node = layer.containsKey("file") ? layer.get("file") : layer.get("filename");
                    where = key(where, "file");
                }
                case "blkdebug" -> {
                    errors.addAll(injectedErrors(layer.get("inject-error"), key(where, "inject-error")));
                    reconstructable = false; // a filter is never a plain path
                    node = layer.get("image");
                    where = key(where, "image");
                }
                case "quorum" -> {
                    reconstructable = false;
                    directoryKnown = false; // QEMU: a quorum has no directory of its own
                    Object children = layer.get("children");
                    if (!(children instanceof List<?> list) || list.isEmpty()) {
                        throw new IllegalArgumentException("'" + key(where, "children") + "' must list the quorum's children");
                    }
                    node = list.get(0);
                    where = key(where, "children.0");
                }
                default -> throw new IllegalArgumentException("'" + key(where, "driver") + "' is '" + layerDriver
                        + "': under an image qedkit follows the file protocol, blkdebug and quorum only");
            }
        }
    }

    /**
     * The tree with every object whose keys are exactly 0, 1, … n-1 turned into a list: how
     * dotted options spell a list ({@code children.0.filename}, {@code inject-error.1.event}),
     * and what QEMU makes of such an object in a {@code json:} name too, which it flattens to
     * dotted keys before its drivers read them. Depth is bounded by the JSON reader's limit
     * and by the length of a dotted key.
     */
    private static Object withLists(Object node) {
        if (node instanceof List<?> items) {
            List<Object> converted = new ArrayList<>(items.size());
            for (Object item : items) {
                converted.add(withLists(item));
            }
            return converted;
        }
        if (!(node instanceof Map<?, ?> map)) {
            return node;
        }
        boolean indexed = !map.isEmpty();
        for (int i = 0; indexed && i < map.size(); i++) {
            indexed = map.containsKey(Integer.toString(i));
        }
        if (indexed) {
            List<Object> items = new ArrayList<>(map.size());
            for (int i = 0; i < map.size(); i++) {
                items.add(withLists(map.get(Integer.toString(i))));
            }
            return items;
        }
        Map<Object, Object> converted = new LinkedHashMap<>();
        map.forEach((key, value) -> converted.put(key, withLists(value)));
        return converted;
    }

    private static boolean isProtocol(Object driver) {
        return "file".equals(driver) || "blkdebug".equals(driver) || "quorum".equals(driver);
    }

    private static String key(String where, String key) {
        return where.isEmpty() ? key : where + "." + key;
    }

    private static List<InjectedError> injectedErrors(Object rules, String where) {
        if (rules == null) {
            return List.of();
        }
        List<?> list = rules instanceof List<?> l ? l : List.of(rules);
        List<InjectedError> errors = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            if (!(list.get(i) instanceof Map<?, ?> rule) || rule.get("event") == null) {
                throw new IllegalArgumentException("'" + where + "." + i + "' must be an object with an 'event'");
            }
            Object iotype = rule.get("iotype");
            errors.add(new InjectedError(String.valueOf(rule.get("event")), iotype == null ? null : String.valueOf(iotype),
                    (int) number(rule, "errno", 5, where + "." + i),
                    Boolean.parseBoolean(String.valueOf(rule.containsKey("once") ? rule.get("once") : "false")),
                    number(rule, "sector", -1, where + "." + i)));
        }
        return errors;
    }

    private static long number(Map<?, ?> rule, String key, long fallback, String where) {
        Object value = rule.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            return Long.parseLong(String.valueOf(value));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + where + "." + key + "' is '" + value + "': expected a whole number");
        }
    }

    /**
     * Just enough JSON for QEMU's option trees: objects, strings in either quote, numbers,
     * true/false/null, arrays. Nesting is bounded: a backing name comes from an image
     * file, which may be hostile, and each level costs a stack frame.
     */
    private static final class JsonReader {
        private static final int MAX_DEPTH = 64;
        private final String text;
        private int at;
        private int depth;

        JsonReader(String text) {
            this.text = text;
        }

        Object value() {
            skipSpace();
            if (at >= text.length()) {
                throw bad("a value");
            }
            char c = text.charAt(at);
            if (c == '{' || c == '[') {
                if (++depth > MAX_DEPTH) {
                    throw new IllegalArgumentException("'json:' tree nested deeper than " + MAX_DEPTH
                            + " levels at offset " + at + ": QEMU's option trees are a few levels deep");
                }
                Object nested = c == '{' ? object() : array();
                depth--;
                return nested;
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

        private List<Object> array() {
            at++; // [
            List<Object> items = new ArrayList<>();
            skipSpace();
            if (peek() == ']') {
                at++;
                return items;
            }
            do {
                items.add(value());
            } while (!closedBy(']'));
            return items;
        }

        private Map<String, Object> object() {
            Map<String, Object> object = new LinkedHashMap<>();
            at++; // {
            skipSpace();
            if (peek() == '}') {
                at++;
                return object;
            }
            do {
                skipSpace();
                String key = string();
                skipSpace();
                if (take() != ':') {
                    throw bad("':'");
                }
                object.put(key, value());
            } while (!closedBy('}'));
            return object;
        }

        /** After an item: true when {@code close} ends the list (it is taken), false at a comma; anything else is an error. */
        private boolean closedBy(char close) {
            skipSpace();
            char next = take();
            if (next == close) {
                return true;
            }
            if (next != ',') {
                throw bad("',' or '" + close + "'");
            }
            return false;
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

        private IllegalArgumentException bad(String expected) {
            return new IllegalArgumentException("Could not parse JSON: expected " + expected + " at offset " + at
                    + " of 'json:" + text + "'");
        }
    }
}
