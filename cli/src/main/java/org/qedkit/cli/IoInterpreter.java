package org.qedkit.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Interprets qemu-io command lines, one at a time, against the image of an {@link IoSession}.
 *
 * <p>It follows qemu-io's command loop: a line is split on spaces; the first word names a
 * command or its one-letter alias; the argument count is checked against the command's
 * bounds before the command sees it (the complaint goes to standard error); a command that
 * needs an image fails with "no file open" when none is; everything a command reports,
 * usage lines and failed requests included, goes to standard output. Each command says
 * whether it succeeded, and {@code qed io} exits 1 when any did not.
 *
 * <p>The data commands live in {@link IoRequests}; this class owns the table, the checks
 * around a call, and the commands about the session itself (open, close, help, quit, sleep).
 */
final class IoInterpreter {

    /** One command as qemu-io's table describes it. */
    record Spec(String name, String alias, int argMin, int argMax, boolean needsImage,
                String args, String oneLine, Handler handler) {
        void printUsage(PrintWriter out) {
            out.println(name + " " + args + " -- " + oneLine);
        }
    }

    /** Runs a command on its arguments (the words after its name); false when it failed. */
    @FunctionalInterface
    interface Handler {
        boolean run(List<String> args) throws IOException;
    }

    private final IoSession session;
    private final PrintWriter out;
    private final PrintWriter err;
    private final Map<String, Spec> byName = new LinkedHashMap<>();
    private boolean quit;

    IoInterpreter(IoSession session, PrintWriter out, PrintWriter err) {
        this.session = session;
        this.out = out;
        this.err = err;
        IoRequests requests = new IoRequests(session, out, err);
        // qemu-io keeps its table sorted by name; help lists it in that order.
        List<Spec> specs = new ArrayList<>(requests.specs());
        specs.add(new Spec("close", "c", 0, 0, false, "", "close the current open file",
                args -> close()));
        specs.add(new Spec("help", "?", 0, 1, false, "[command]", "help for one or all commands",
                this::help));
        specs.add(new Spec("open", "o", 1, -1, false, "[-rsCnkU] [-t cache] [-d discard] [-o options] [path]",
                "open the file specified by path", this::open));
        specs.add(new Spec("quit", "q", -1, -1, false, "", "exit the program", args -> {
            quit = true;
            return true;
        }));
        specs.add(new Spec("sleep", null, 1, 1, false, "ms", "waits for the given value in milliseconds",
                this::sleep));
        specs.sort((a, b) -> a.name().compareTo(b.name()));
        for (Spec spec : specs) {
            byName.put(spec.name(), spec);
        }
    }

    /** True once {@code quit} ran: the caller stops reading commands. */
    boolean quitRequested() {
        return quit;
    }

    /** Runs one command line; returns false when it failed. */
    boolean execute(String line) {
        List<String> words = new ArrayList<>();
        for (String word : line.split(" ")) {
            if (!word.isEmpty()) {
                words.add(word);
            }
        }
        if (words.isEmpty()) {
            return true;
        }
        String name = words.get(0);
        List<String> args = words.subList(1, words.size());
        try {
            Spec spec = find(name);
            if (spec == null) {
                err.println("command \"" + name + "\" not found");
                return false;
            }
            if (spec.needsImage() && session.target() == null) {
                err.println("no file open, try 'help open'");
                return false;
            }
            if (!countFits(spec, name, args.size())) {
                return false;
            }
            return spec.handler().run(args);
        } catch (IOException | RuntimeException e) {
            String qemuLine = "qemu-io: " + e.getMessage();
            err.println(qemuLine);
            return false;
        } finally {
            out.flush();
            err.flush();
        }
    }

    private Spec find(String name) {
        for (Spec spec : byName.values()) {
            if (spec.name().equals(name) || name.equals(spec.alias())) {
                return spec;
            }
        }
        return null;
    }

    private boolean countFits(Spec spec, String name, int count) {
        if (spec.argMin() < 0 || (count >= spec.argMin() && (spec.argMax() == -1 || count <= spec.argMax()))) {
            return true;
        }
        if (spec.argMax() == -1) {
            err.printf("bad argument count %d to %s, expected at least %d arguments%n", count, name, spec.argMin());
        } else if (spec.argMin() == spec.argMax()) {
            err.printf("bad argument count %d to %s, expected %d arguments%n", count, name, spec.argMin());
        } else {
            err.printf("bad argument count %d to %s, expected between %d and %d arguments%n",
                    count, name, spec.argMin(), spec.argMax());
        }
        return false;
    }

    // ------------------------------------------------------------------ session commands

    private boolean close() throws IOException {
        session.close();
        return true;
    }

    private boolean open(List<String> args) {
        Getopt.Parsed parsed = new Getopt("snCro:ki:t:d:U").parse("open", args, err);
        Spec spec = byName.get("open");
        if (parsed == null || parsed.operands().size() > 1) {
            spec.printUsage(out);
            return false;
        }
        IoSession.Request request = session.defaults();
        List<String> options = new ArrayList<>();
        for (Getopt.Option o : parsed.options()) {
            switch (o.letter()) {
                case 'r' -> request = request.readOnly(true);
                case 'C' -> request = request.copyOnRead(true);
                case 'U' -> request = request.forceShare(true);
                case 'n' -> request = request.cache("none");
                case 't' -> {
                    if (!IoSession.isCacheMode(o.value())) {
                        err.println("qemu-io: Invalid cache option: " + o.value());
                        return false;
                    }
                    request = request.cache(o.value());
                }
                case 'i' -> {
                    if (!IoSession.isAioMode(o.value())) {
                        err.println("qemu-io: Invalid aio option: " + o.value());
                        return false;
                    }
                }
                case 'd' -> {
                    if (!o.value().equals("ignore") && !o.value().equals("off")
                            && !o.value().equals("unmap") && !o.value().equals("on")) {
                        err.println("qemu-io: Invalid discard option: " + o.value());
                        return false;
                    }
                    request = request.discard(o.value());
                }
                case 'o' -> options.add(o.value());
                case 's' -> request = request.snapshot(true);
                default -> { // -k (native aio) changes nothing for a mapped image
                }
            }
        }
        String name = parsed.operands().isEmpty() ? null : parsed.operands().get(0);
        return session.open(name, request.withOptions(String.join(",", options)));
    }

    private boolean help(List<String> args) {
        if (args.isEmpty()) {
            for (Spec spec : byName.values()) {
                oneLine(spec.name(), spec);
            }
            out.println();
            out.println("Use 'help commandname' for extended help.");
            return true;
        }
        Spec spec = find(args.get(0));
        if (spec == null) {
            out.println("command " + args.get(0) + " not found");
            return false;
        }
        oneLine(args.get(0), spec);
        return true;
    }

    private void oneLine(String name, Spec spec) {
        out.println(name + " " + (spec.args().isEmpty() ? "" : spec.args() + " ") + "-- " + spec.oneLine());
    }

    private boolean sleep(List<String> args) {
        long ms;
        try {
            ms = Long.decode(args.get(0));
        } catch (NumberFormatException e) {
            ms = -1;
        }
        if (ms < 0) {
            out.println(args.get(0) + " is not a valid number");
            return false;
        }
        try {
            Thread.sleep(ms);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
