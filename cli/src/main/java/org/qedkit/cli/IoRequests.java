package org.qedkit.cli;

import org.qedkit.DataPastEnd;
import org.qedkit.Extent;
import org.qedkit.QedImage;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * qemu-io's data commands (read, write and their vectored and aio forms, discard, flush,
 * truncate, and the facts: length, info, alloc, map), with qemu-io's options, checks,
 * messages and reports.
 *
 * <p>The aio forms complete before the command returns and report at once: the engine's
 * calls are synchronous, so "in flight" never outlives the command, and {@code aio_flush}
 * has nothing left to wait for. Vectored requests are one buffer of the summed lengths.
 * {@code discard} frees the whole clusters of its range (the engine's discard), unless the
 * image was opened with {@code -d ignore} (or {@code off}), as qemu-io's block layer drops it.
 */
final class IoRequests {
    /** QEMU's largest single request: INT_MAX rounded down to whole 512-byte sectors. */
    static final long MAX_REQUEST_BYTES = (Integer.MAX_VALUE >> 9) << 9;
    private static final int READ_FILL = 0xab;
    private static final int WRITE_PATTERN = 0xcd;

    private final IoSession session;
    private final PrintWriter out;
    private final PrintWriter err;
    private final List<IoInterpreter.Spec> specs;

    IoRequests(IoSession session, PrintWriter out, PrintWriter err) {
        this.session = session;
        this.out = out;
        this.err = err;
        this.specs = table();
    }

    /** The table entries for these commands. */
    List<IoInterpreter.Spec> specs() {
        return specs;
    }

    /** A mistake already printed; the command fails. */
    private static final class Refused extends Exception {
        private static final long serialVersionUID = 1L;

        Refused() {
            super(null, null, false, false);
        }
    }

    private List<IoInterpreter.Spec> table() {
        return List.of(
                spec("read", "r", 2, "[-abCqv] [-P pattern [-s off] [-l len]] off len",
                        "reads a number of bytes at a specified offset", this::read),
                spec("readv", null, 2, "[-Cqv] [-P pattern] off len [len..]",
                        "reads a number of bytes at a specified offset", args -> readv("readv", args)),
                spec("write", "w", 2, "[-bcCfnquz] [-P pattern | -s source_file] off len",
                        "writes a number of bytes at a specified offset", this::write),
                spec("writev", null, 2, "[-Cfq] [-P pattern] off len [len..]",
                        "writes a number of bytes at a specified offset", args -> writev("writev", args)),
                spec("aio_read", null, 2, "[-Ciqv] [-P pattern] off len [len..]",
                        "asynchronously reads a number of bytes", args -> readv("aio_read", args)),
                spec("aio_write", null, 2, "[-Cfiquz] [-P pattern] off len [len..]",
                        "asynchronously writes a number of bytes", args -> writev("aio_write", args)),
                new IoInterpreter.Spec("aio_flush", null, 0, 0, true, "",
                        "completes all outstanding aio requests", args -> true),
                new IoInterpreter.Spec("flush", "f", 0, 0, true, "", "flush all in-core file state to disk",
                        args -> flush()),
                new IoInterpreter.Spec("truncate", "t", 1, 3, true, "[-m prealloc_mode] off",
                        "truncates the current file at the given offset", this::truncate),
                new IoInterpreter.Spec("length", "l", 0, 0, true, "", "gets the length of the current file",
                        args -> length()),
                new IoInterpreter.Spec("info", "i", 0, 0, true, "", "prints information about the current file",
                        args -> info()),
                spec("discard", "d", 2, "[-Cq] off len", "discards a number of bytes at a specified offset",
                        this::discard),
                new IoInterpreter.Spec("alloc", "a", 1, 2, true, "offset [count]",
                        "checks if offset is allocated in the file", this::alloc),
                new IoInterpreter.Spec("map", null, 0, 0, true, "", "prints the allocated areas of a file",
                        args -> map()));
    }

    private interface Body {
        boolean run(List<String> args) throws IOException, Refused;
    }

    /** A command with at least {@code min} arguments; a {@link Refused} is a failed command. */
    private static IoInterpreter.Spec spec(String name, String alias, int min, String usage, String oneLine,
                                           Body body) {
        return new IoInterpreter.Spec(name, alias, min, -1, true, usage, oneLine, args -> {
            try {
                return body.run(args);
            } catch (Refused refused) {
                return false;
            }
        });
    }

    private IoTarget target() {
        return session.target();
    }

    /** qemu-io asks for write permission before a writing command runs; a read-only node refuses. */
    private void requireWritable() throws Refused {
        if (target().isReadOnly()) {
            err.println("qemu-io: Block node is read-only");
            throw new Refused();
        }
    }

    // ------------------------------------------------------------------ read

    private boolean read(List<String> args) throws IOException, Refused {
        IoInterpreter.Spec self = find("read");
        Getopt.Parsed p = options("bCl:pP:qs:v", "read", args, self);
        Integer pattern = null;
        long patternOffset = 0;
        Long patternCount = null;
        for (Getopt.Option o : p.options()) {
            switch (o.letter()) {
                case 'P' -> pattern = pattern(o.value());
                case 's' -> patternOffset = number(o.value());
                case 'l' -> patternCount = number(o.value());
                case 'b' -> {
                    out.println("read: the VM state (-b) is not stored in QED images");
                    throw new Refused();
                }
                default -> { // -C, -q, -v: read below; -p: ignored, as in qemu-io
                }
            }
        }
        if (p.operands().size() != 2) {
            self.printUsage(out);
            return false;
        }
        long offset = number(p.operands().get(0));
        long count = length(p.operands().get(1), "length cannot exceed %d, given %s");
        if (pattern == null && (p.has('l') || p.has('s'))) {
            self.printUsage(out);
            return false;
        }
        long verifyCount = patternCount != null ? patternCount : count - patternOffset;
        if (verifyCount < 0 || verifyCount + patternOffset > count) {
            out.println("pattern verification range exceeds end of read data");
            return false;
        }
        byte[] buffer = new byte[(int) count];
        Arrays.fill(buffer, (byte) READ_FILL);
        long start = System.nanoTime();
        try {
            target().read(offset, buffer);
        } catch (IOException | RuntimeException e) {
            failed("read", e);
            return false;
        }
        long nanos = System.nanoTime() - start;
        boolean ok = pattern == null
                || verify(buffer, (int) patternOffset, (int) verifyCount, pattern, offset + patternOffset);
        if (p.has('q')) {
            return ok;
        }
        if (p.has('v')) {
            QemuIoText.dump(out, buffer, offset);
        }
        QemuIoText.report(out, "read", nanos, offset, count, count, 1, p.has('C'));
        return ok;
    }

    /** readv and aio_read: one buffer of the summed lengths. */
    private boolean readv(String name, List<String> args) throws IOException, Refused {
        IoInterpreter.Spec self = find(name);
        Getopt.Parsed p = options(name.equals("readv") ? "CP:qv" : "CP:iqv", name, args, self);
        Integer pattern = null;
        for (Getopt.Option o : p.options()) {
            if (o.letter() == 'P') {
                pattern = pattern(o.value());
            } else if (o.letter() == 'i') {
                out.println("injecting invalid read request");
                return true;
            }
        }
        if (p.operands().size() < 2) {
            self.printUsage(out);
            return false;
        }
        long offset = number(p.operands().get(0));
        byte[] buffer = vector(p.operands().subList(1, p.operands().size()), READ_FILL);
        long start = System.nanoTime();
        try {
            target().read(offset, buffer);
        } catch (IOException | RuntimeException e) {
            failed("readv", e);
            return false;
        }
        long nanos = System.nanoTime() - start;
        boolean ok = pattern == null || verify(buffer, 0, buffer.length, pattern, offset);
        if (name.equals("aio_read")) {
            ok = true; // qemu-io reports the mismatch of an aio_read but does not fail the command
        }
        if (p.has('q')) {
            return ok;
        }
        if (p.has('v')) {
            QemuIoText.dump(out, buffer, offset);
        }
        QemuIoText.report(out, "read", nanos, offset, buffer.length, buffer.length, 1, p.has('C'));
        return ok;
    }

    // ------------------------------------------------------------------ write

    private boolean write(List<String> args) throws IOException, Refused {
        requireWritable();
        IoInterpreter.Spec self = find("write");
        Getopt.Parsed p = options("bcCfnpP:qs:uz", "write", args, self);
        int pattern = WRITE_PATTERN;
        String source = null;
        for (Getopt.Option o : p.options()) {
            if (o.letter() == 'P') {
                pattern = pattern(o.value());
            } else if (o.letter() == 's') {
                source = o.value();
            }
        }
        if (p.operands().size() != 2) {
            self.printUsage(out);
            return false;
        }
        boolean zeroes = p.has('z');
        if (p.has('b') && zeroes) {
            out.println("-b and -z cannot be specified at the same time");
            return false;
        }
        if (p.has('f') && (p.has('b') || p.has('c'))) {
            out.println("-f and -b or -c cannot be specified at the same time");
            return false;
        }
        if (p.has('n') && !zeroes) {
            out.println("-n requires -z to be specified");
            return false;
        }
        if (p.has('u') && !zeroes) {
            out.println("-u requires -z to be specified");
            return false;
        }
        if ((zeroes ? 1 : 0) + (p.has('P') ? 1 : 0) + (p.has('s') ? 1 : 0) > 1) {
            out.println("Only one of -z, -P, and -s can be specified at the same time");
            return false;
        }
        if (p.has('b')) {
            out.println("write: the VM state (-b) is not stored in QED images");
            return false;
        }
        long offset = number(p.operands().get(0));
        long count = number(p.operands().get(1));
        if (count > MAX_REQUEST_BYTES && !p.has('n')) {
            out.printf("length cannot exceed %d without -n, given %s%n", MAX_REQUEST_BYTES, p.operands().get(1));
            return false;
        }
        if (p.has('c') && (offset % 512 != 0 || count % 512 != 0)) {
            out.println(offset % 512 != 0 ? offset + " is not a sector-aligned value for 'offset'"
                    : count + " is not a sector-aligned value for 'count'");
            return false;
        }
        byte[] buffer = null;
        if (!zeroes) {
            buffer = source != null ? fromFile(source, (int) count) : filled((int) count, pattern);
            if (buffer == null) {
                return false;
            }
        }
        long start = System.nanoTime();
        try {
            // -c (compressed): QED stores no compressed clusters; the data is written as is.
            if (zeroes && p.has('u') && session.openedWith().unmap()) {
                target().writeZeroesUnmapping(offset, count);
            } else if (zeroes) {
                target().writeZeroes(offset, count);
            } else {
                target().write(offset, buffer, p.has('f'));
            }
        } catch (IOException | RuntimeException e) {
            failed("write", e);
            return false;
        }
        if (!p.has('q')) {
            QemuIoText.report(out, "wrote", System.nanoTime() - start, offset, count, count, 1, p.has('C'));
        }
        return true;
    }

    /** writev and aio_write. */
    private boolean writev(String name, List<String> args) throws IOException, Refused {
        requireWritable();
        IoInterpreter.Spec self = find(name);
        boolean aio = name.equals("aio_write");
        Getopt.Parsed p = options(aio ? "CfiqP:uz" : "CfqP:", name, args, self);
        int pattern = WRITE_PATTERN;
        for (Getopt.Option o : p.options()) {
            if (o.letter() == 'P') {
                pattern = pattern(o.value());
            } else if (o.letter() == 'i') {
                out.println("injecting invalid write request");
                return true;
            }
        }
        if (p.operands().size() < 2) {
            self.printUsage(out);
            return false;
        }
        boolean zeroes = aio && p.has('z');
        if (zeroes && p.operands().size() != 2) {
            out.println("-z supports only a single length parameter");
            return false;
        }
        if (aio && p.has('u') && !zeroes) {
            out.println("-u requires -z to be specified");
            return false;
        }
        long offset = number(p.operands().get(0));
        long count;
        byte[] buffer = null;
        if (zeroes) {
            count = number(p.operands().get(1));
        } else {
            buffer = vector(p.operands().subList(1, p.operands().size()), pattern);
            count = buffer.length;
        }
        long start = System.nanoTime();
        try {
            if (zeroes && p.has('u') && session.openedWith().unmap()) {
                target().writeZeroesUnmapping(offset, count);
            } else if (zeroes) {
                target().writeZeroes(offset, count);
            } else {
                target().write(offset, buffer, p.has('f'));
            }
        } catch (IOException | RuntimeException e) {
            failed(aio ? "aio_write" : "writev", e);
            return false;
        }
        if (!p.has('q')) {
            QemuIoText.report(out, "wrote", System.nanoTime() - start, offset, count, count, 1, p.has('C'));
        }
        return true;
    }

    private boolean discard(List<String> args) throws Refused {
        requireWritable();
        IoInterpreter.Spec self = find("discard");
        Getopt.Parsed p = options("Cq", "discard", args, self);
        if (p.operands().size() != 2) {
            self.printUsage(out);
            return false;
        }
        long offset = number(p.operands().get(0));
        long count = length(p.operands().get(1), "length cannot exceed %d, given %s");
        long start = System.nanoTime();
        if (offset < 0 || offset > target().size() - count) {
            out.println("discard failed: Input/output error");
            return false;
        }
        if (session.openedWith().unmap()) { // -d ignore: qemu-io's block layer drops the request
            try {
                target().discard(offset, count);
            } catch (IOException | RuntimeException e) {
                failed("discard", e);
                return false;
            }
        }
        if (!p.has('q')) {
            QemuIoText.report(out, "discard", System.nanoTime() - start, offset, count, count, 1, p.has('C'));
        }
        return true;
    }

    private boolean flush() {
        try {
            target().flush();
            return true;
        } catch (IOException | RuntimeException e) {
            err.println("qemu-io: " + e.getMessage());
            return false;
        }
    }

    // ------------------------------------------------------------------ truncate

    /**
     * Changes the guest size. The engine resizes a closed image, so a QED image is closed,
     * resized and opened again as it was; shrinking refuses to cut off data, where QEMU's
     * QED driver refuses to shrink at all.
     */
    private boolean truncate(List<String> args) throws IOException {
        if (target().isReadOnly()) {
            err.println("qemu-io: Block node is read-only");
            return false;
        }
        Getopt.Parsed p = new Getopt("m:").parse("truncate", args, err);
        IoInterpreter.Spec self = find("truncate");
        if (p == null || p.operands().size() != 1) {
            self.printUsage(out);
            return false;
        }
        for (Getopt.Option o : p.options()) {
            if (!o.value().equals("off")) {
                err.println("qemu-io: Unsupported preallocation mode '" + o.value() + "'");
                return false;
            }
        }
        long size;
        try {
            size = number(p.operands().get(0));
        } catch (Refused refused) {
            return false;
        }
        if (target().formatName().equals("raw")) {
            try (var channel = java.nio.channels.FileChannel.open(session.path(),
                    java.nio.file.StandardOpenOption.WRITE)) {
                if (size < channel.size()) {
                    channel.truncate(size);
                } else if (size > channel.size()) {
                    channel.write(java.nio.ByteBuffer.wrap(new byte[1]), size - 1);
                }
            }
            return true;
        }
        Path file = session.path();
        IoSession.Request request = session.openedWith();
        session.close();
        boolean ok = true;
        try {
            QedImage.resize(file, size, DataPastEnd.REFUSE);
        } catch (IOException | RuntimeException e) {
            err.println("qemu-io: " + e.getMessage());
            ok = false;
        }
        return session.open(file.toString(), request) && ok;
    }

    // ------------------------------------------------------------------ facts

    private boolean length() {
        out.println(Sizes.qemuIoHuman(target().size()));
        return true;
    }

    private boolean info() {
        IoTarget t = target();
        out.println("format name: " + t.formatName());
        if (t.clusterSize() == 0) {
            return true; // QEMU's raw driver has no block-driver info to print
        }
        out.println("cluster size: " + Sizes.qemuIoHuman(t.clusterSize()));
        out.println("vm state offset: 0 bytes");
        return true;
    }

    private boolean alloc(List<String> args) throws IOException {
        long start;
        long count;
        try {
            start = number(args.get(0));
            count = args.size() == 2 ? number(args.get(1)) : 512;
        } catch (Refused refused) {
            return false;
        }
        long size = target().size();
        long end = Math.min(size, start + count);
        long allocated = 0;
        for (long at = start; at < end; ) {
            Extent e = target().extentAt(at);
            long run = Math.min(e.length(), end - at);
            if (e.isAllocated()) {
                allocated += run;
            }
            at += run;
        }
        if (start + count > size) {
            count = Math.max(0, size - start);
        }
        out.printf("%d/%d bytes allocated at offset %s%n", allocated, count, Sizes.qemuIoHuman(start));
        return true;
    }

    private boolean map() throws IOException {
        long size = target().size();
        for (long offset = 0; offset < size; ) {
            boolean allocated = target().extentAt(offset).isAllocated();
            long end = offset;
            while (end < size) {
                Extent e = target().extentAt(end);
                if (e.isAllocated() != allocated) {
                    break;
                }
                end += e.length();
            }
            end = Math.min(end, size);
            long length = end - offset;
            out.printf("%s (0x%x) bytes %s at offset %s (0x%x)%n", Sizes.qemuIoHuman(length), length,
                    allocated ? "    allocated" : "not allocated", Sizes.qemuIoHuman(offset), offset);
            offset = end;
        }
        return true;
    }

    // ------------------------------------------------------------------ helpers

    private IoInterpreter.Spec find(String name) {
        return specs.stream().filter(s -> s.name().equals(name)).findFirst().orElseThrow();
    }

    private Getopt.Parsed options(String spec, String name, List<String> args, IoInterpreter.Spec self)
            throws Refused {
        Getopt.Parsed p = new Getopt(spec).parse(name, args, err);
        if (p == null) {
            err.flush();
            self.printUsage(out);
            throw new Refused();
        }
        return p;
    }

    /** qemu-io's {@code cvtnum}: a size with an optional suffix; the complaint on standard output. */
    private long number(String text) throws Refused {
        try {
            return Sizes.parse(text);
        } catch (IllegalArgumentException e) {
            out.println(e.getMessage().contains("too large") ? "Parsing error: argument too large -- " + text
                    : "Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- " + text);
            throw new Refused();
        }
    }

    private long length(String text, String tooLong) throws Refused {
        long n = number(text);
        if (n > MAX_REQUEST_BYTES) {
            out.printf(tooLong + "%n", MAX_REQUEST_BYTES, text);
            throw new Refused();
        }
        return n;
    }

    /** qemu-io's {@code parse_pattern}: strtol in any base, one byte. */
    private int pattern(String text) throws Refused {
        try {
            String digits = text;
            int radix = 10;
            if (text.startsWith("0x") || text.startsWith("0X")) {
                digits = text.substring(2);
                radix = 16;
            } else if (text.length() > 1 && text.startsWith("0")) {
                digits = text.substring(1);
                radix = 8;
            }
            long v = Long.parseLong(digits, radix);
            if (v >= 0 && v <= 255 && !digits.startsWith("+") && !digits.startsWith("-")) {
                return (int) v;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        out.println(text + " is not a valid pattern byte");
        throw new Refused();
    }

    private boolean verify(byte[] buffer, int from, int count, int pattern, long reportOffset) {
        for (int i = from; i < from + count; i++) {
            if (buffer[i] != (byte) pattern) {
                out.printf("Pattern verification failed at offset %d, %d bytes%n", reportOffset, count);
                return false;
            }
        }
        return true;
    }

    /** qemu-io's {@code create_iovec}: the lengths, checked and summed, as one buffer. */
    private byte[] vector(List<String> lengths, int fill) throws Refused {
        long total = 0;
        for (String text : lengths) {
            long n = number(text);
            if (n > MAX_REQUEST_BYTES) {
                out.printf("Argument '%s' exceeds maximum size %d%n", text, MAX_REQUEST_BYTES);
                throw new Refused();
            }
            if (total > MAX_REQUEST_BYTES - n) {
                out.printf("The total number of bytes exceed the maximum size %d%n", MAX_REQUEST_BYTES);
                throw new Refused();
            }
            total += n;
        }
        return filled((int) total, fill);
    }

    private static byte[] filled(int length, int pattern) {
        byte[] buffer = new byte[length];
        Arrays.fill(buffer, (byte) pattern);
        return buffer;
    }

    /** qemu-io's {@code -s FILE}: the file's bytes, repeated to fill the request. */
    private byte[] fromFile(String name, int length) {
        byte[] content;
        try {
            content = Files.readAllBytes(Path.of(name));
        } catch (IOException e) {
            err.println(name + ": " + (e instanceof java.nio.file.NoSuchFileException
                    ? "No such file or directory" : e.getMessage()));
            return null;
        }
        if (content.length == 0) {
            err.println(name + ": file is empty");
            return null;
        }
        byte[] buffer = new byte[length];
        for (int at = 0; at < length; at += content.length) {
            System.arraycopy(content, 0, buffer, at, Math.min(content.length, length - at));
        }
        return buffer;
    }

    /** qemu-io's failure line, in the C library's words; qedkit's reason as the detail. */
    private void failed(String op, Exception e) {
        String line = op + " failed: " + QemuIoText.strerror(e);
        out.println(line);
        out.flush();
        Detail.print(err, line, e.getMessage());
    }
}
