package org.qedkit.cli;

import org.qedkit.Extent;
import org.qedkit.QedImage;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Interprets qemu-io command lines against an open image. Each command returns whether it
 * succeeded; output goes where qemu-io sends it (results and I/O failures to standard
 * output, usage errors to standard error).
 */
final class IoInterpreter {
    private static final int DEFAULT_WRITE_PATTERN = 0xcd;

    private final QedImage image;
    private final PrintWriter out;
    private final PrintWriter err;

    IoInterpreter(QedImage image, PrintWriter out, PrintWriter err) {
        this.image = image;
        this.out = out;
        this.err = err;
    }

    /** Runs one command line; returns false when it failed. */
    boolean execute(String line) {
        String[] words = line.trim().split("\\s+");
        if (words.length == 0 || words[0].isEmpty()) {
            return true;
        }
        String name = words[0];
        List<String> args = Arrays.asList(words).subList(1, words.length);
        try {
            return switch (name) {
                case "read", "r" -> read(args);
                case "write", "w" -> write(args);
                case "flush", "f" -> flush();
                case "map" -> map();
                case "info", "i" -> info();
                case "length", "l" -> length();
                case "sleep" -> sleep(args);
                default -> {
                    err.println("command \"" + name + "\" not found");
                    yield false;
                }
            };
        } catch (UsageError e) {
            err.println(e.getMessage());
            return false;
        } finally {
            out.flush();
            err.flush();
        }
    }

    // ------------------------------------------------------------------ read / write

    private boolean read(List<String> args) {
        Options o = Options.parse("read", args, "qv", "P");
        positional(o, 2, "read");
        long offset = number(o.positional.get(0));
        int length = length(o.positional.get(1));
        Integer pattern = o.value('P') == null ? null : pattern(o.value('P'));

        byte[] buffer = new byte[length];
        long start = System.nanoTime();
        try {
            image.read(offset, buffer);
        } catch (IOException | RuntimeException e) {
            out.println("read failed: " + e.getMessage());
            return false;
        }
        long elapsed = System.nanoTime() - start;
        boolean ok = true;
        if (pattern != null) {
            for (byte b : buffer) {
                if (b != (byte) (int) pattern) {
                    out.printf("Pattern verification failed at offset %d, %d bytes%n", offset, length);
                    ok = false;
                    break;
                }
            }
        }
        if (o.has('v')) {
            dump(buffer, offset);
        }
        if (!o.has('q')) {
            report("read", elapsed, offset, length);
        }
        return ok;
    }

    private boolean write(List<String> args) {
        Options o = Options.parse("write", args, "qz", "P");
        positional(o, 2, "write");
        if (o.has('z') && o.value('P') != null) {
            throw new UsageError("Only one of -z, -P, and -s can be specified at the same time");
        }
        long offset = number(o.positional.get(0));
        int length = length(o.positional.get(1));
        int pattern = o.value('P') == null ? DEFAULT_WRITE_PATTERN : pattern(o.value('P'));

        long start = System.nanoTime();
        try {
            if (o.has('z')) {
                image.writeZeroes(offset, length);
            } else {
                byte[] buffer = new byte[length];
                Arrays.fill(buffer, (byte) pattern);
                image.write(offset, buffer);
            }
        } catch (IOException | RuntimeException e) {
            out.println("write failed: " + e.getMessage());
            return false;
        }
        if (!o.has('q')) {
            report("wrote", System.nanoTime() - start, offset, length);
        }
        return true;
    }

    private boolean flush() {
        try {
            image.flush();
            return true;
        } catch (IOException e) {
            out.println("flush failed: " + e.getMessage());
            return false;
        }
    }

    // ------------------------------------------------------------------ facts

    private boolean map() {
        long size = image.size();
        try {
            for (long offset = 0; offset < size; ) {
                boolean allocated = image.extentAt(offset).isAllocated();
                long end = offset;
                while (end < size) {
                    Extent e = image.extentAt(end);
                    if (e.isAllocated() != allocated) {
                        break;
                    }
                    end += e.length();
                }
                long length = end - offset;
                out.printf("%s (0x%x) bytes %s allocated at offset %s (0x%x)%n",
                        Sizes.qemuIoHuman(length), length, allocated ? "   " : "not",
                        Sizes.qemuIoHuman(offset), offset);
                offset = end;
            }
            return true;
        } catch (IOException e) {
            out.println("map failed: " + e.getMessage());
            return false;
        }
    }

    private boolean info() {
        out.println("format name: qed");
        out.println("cluster size: " + Sizes.qemuIoHuman(image.header().clusterSize()));
        out.println("vm state offset: 0 bytes");
        return true;
    }

    private boolean length() {
        out.println(Sizes.qemuIoHuman(image.size()));
        return true;
    }

    private boolean sleep(List<String> args) {
        if (args.size() != 1) {
            throw new UsageError("bad argument count " + args.size() + " to sleep, expected 1 arguments");
        }
        long ms = number(args.get(0));
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        return true;
    }

    // ------------------------------------------------------------------ output

    /** qemu-io's two report lines: what was done, then size, ops, time and rates. */
    private void report(String op, long nanos, long offset, long length) {
        double seconds = Math.max(nanos, 1) / 1e9;
        out.printf("%s %d/%d bytes at offset %d%n", op, length, length, offset);
        out.printf(Locale.ROOT, "%s, %d ops; %s (%s/sec and %.4f ops/sec)%n",
                Sizes.qemuIoHuman(length), 1, time(nanos),
                Sizes.qemuIoHuman(length / seconds), 1 / seconds);
    }

    private static String time(long nanos) {
        long whole = nanos / 1_000_000_000L;
        double fraction = (nanos % 1_000_000_000L) / 1e9;
        if (whole == 0) {
            return String.format(Locale.ROOT, "%05.2f sec", fraction);
        }
        return String.format(Locale.ROOT, "%d:%02d:%05.2f", whole / 3600, (whole / 60) % 60,
                (whole % 60) + fraction);
    }

    /** qemu-io's {@code -v} hex dump. */
    private void dump(byte[] buffer, long offset) {
        for (int i = 0; i < buffer.length; i += 16) {
            StringBuilder line = new StringBuilder(String.format("%08x:  ", offset + i));
            int end = Math.min(buffer.length, i + 16);
            for (int j = i; j < end; j++) {
                line.append(String.format("%02x ", buffer[j] & 0xff));
            }
            line.append(' ');
            for (int j = i; j < end; j++) {
                char c = (char) (buffer[j] & 0xff);
                line.append(c < ' ' || c > '~' ? '.' : c);
            }
            out.println(line);
        }
    }

    // ------------------------------------------------------------------ arguments

    private static void positional(Options o, int count, String command) {
        if (o.positional.size() != count) {
            throw new UsageError("bad argument count " + o.positional.size() + " to " + command
                    + ", expected " + count + " arguments");
        }
    }

    private static long number(String text) {
        try {
            return Sizes.parse(text);
        } catch (IllegalArgumentException e) {
            throw new UsageError("Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- " + text);
        }
    }

    private static int length(String text) {
        long n = number(text);
        if (n > Integer.MAX_VALUE - 8) {
            throw new UsageError("length cannot exceed " + (Integer.MAX_VALUE - 8) + ", given " + text);
        }
        return (int) n;
    }

    private static int pattern(String text) {
        try {
            long v = Long.decode(text.startsWith("0") && text.length() > 1 && !text.startsWith("0x")
                    && !text.startsWith("0X") ? "0" + Long.parseLong(text, 8) : text);
            if (v < 0 || v > 255) {
                throw new UsageError(text + " is not a valid pattern byte");
            }
            return (int) v;
        } catch (NumberFormatException e) {
            throw new UsageError(text + " is not a valid pattern byte");
        }
    }

    /** A usage mistake: printed on standard error, the command fails, the script goes on. */
    static final class UsageError extends RuntimeException {
        private static final long serialVersionUID = 1L;

        UsageError(String message) {
            super(message);
        }
    }

    /** getopt-style flags ({@code -qv}) and options with a value ({@code -P 0xab} or {@code -P0xab}). */
    private static final class Options {
        final List<String> positional = new ArrayList<>();
        private final StringBuilder flags = new StringBuilder();
        private final java.util.Map<Character, String> values = new java.util.HashMap<>();

        static Options parse(String command, List<String> args, String flagLetters, String valueLetters) {
            Options o = new Options();
            for (int i = 0; i < args.size(); i++) {
                String a = args.get(i);
                if (!a.startsWith("-") || a.length() == 1 || !o.positional.isEmpty()) {
                    o.positional.add(a);
                    continue;
                }
                for (int c = 1; c < a.length(); c++) {
                    char letter = a.charAt(c);
                    if (flagLetters.indexOf(letter) >= 0) {
                        o.flags.append(letter);
                    } else if (valueLetters.indexOf(letter) >= 0) {
                        String value = c + 1 < a.length() ? a.substring(c + 1)
                                : (i + 1 < args.size() ? args.get(++i) : null);
                        if (value == null) {
                            throw new UsageError(command + ": option requires an argument -- '" + letter + "'");
                        }
                        o.values.put(letter, value);
                        break;
                    } else {
                        throw new UsageError(command + ": invalid option -- '" + letter + "'");
                    }
                }
            }
            return o;
        }

        boolean has(char flag) {
            return flags.indexOf(String.valueOf(flag)) >= 0;
        }

        String value(char letter) {
            return values.get(letter);
        }
    }
}
