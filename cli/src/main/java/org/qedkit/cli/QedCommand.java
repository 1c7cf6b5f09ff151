package org.qedkit.cli;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

import java.io.InputStream;
import java.io.PrintWriter;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * {@code qed}: qemu-img and qemu-io style tools for QED images, on the qedkit engine.
 *
 * <p>Exit codes follow qemu-img: 0 on success, 1 on any error (bad arguments included),
 * and the documented codes of commands such as {@code check}. An error is one line on
 * standard error that says what went wrong and with which file, prefixed with the name of
 * the QEMU program the command stands in for ({@code qemu-img:} or {@code qemu-io:}) and in
 * QEMU's words where QEMU has a message for the case; qedkit's own reason follows as a
 * {@code qed: detail:} line by the rule in {@link Detail}.
 */
public final class QedCommand implements Runnable, DeclaredCommand {

    /*
     * The subcommands are made lazily. Picocli builds the model of every command it is
     * given before it parses a single argument; when the first argument names a command,
     * only that command is made and declared; anything else (no command, --help, help, a
     * misspelling) gets all of them, so the root usage and picocli's suggestions stay
     * complete. Every command declares its options itself (SpecBuilder): reading them from
     * annotations cost each call tens of milliseconds of generated proxy classes.
     */
    private static final Map<String, Function<InputStream, DeclaredCommand>> COMMANDS = commands();

    /** Every command by name, each made fresh (standard input for {@code io}). */
    static Map<String, Function<InputStream, DeclaredCommand>> commands() {
        Map<String, Function<InputStream, DeclaredCommand>> commands = new LinkedHashMap<>();
        commands.put("create", in -> new CreateCommand());
        commands.put("info", in -> new InfoCommand());
        commands.put("io", IoCommand::new);
        commands.put("check", in -> new CheckCommand());
        commands.put("compare", in -> new CompareCommand());
        commands.put("map", in -> new MapCommand());
        commands.put("convert", in -> new ConvertCommand());
        commands.put("dd", in -> new DdCommand());
        commands.put("resize", in -> new ResizeCommand());
        commands.put("rebase", in -> new RebaseCommand());
        commands.put("commit", in -> new CommitCommand());
        commands.put("measure", in -> new MeasureCommand());
        commands.put("bench", in -> new BenchCommand());
        commands.put("serve", in -> new ServeCommand());
        return Collections.unmodifiableMap(commands);
    }

    private CommandSpec spec;

    @Override
    public CommandSpec declare() {
        spec = SpecBuilder.command("qed", this, "Create, inspect and read or write QED (QEMU Enhanced Disk) images.")
                .spec();
        spec.exitCodeOnInvalidInput(1);
        spec.exitCodeOnExecutionException(1);
        spec.versionProvider(new Version());
        return spec;
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(),
                "a command is needed: create, info, check, compare, map, convert, dd, resize, rebase, commit, measure, bench, serve or io (see qed --help)");
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        int code = execute(args, out, err);
        out.flush();
        err.flush();
        System.out.flush(); // and whatever was printed around the writers
        System.err.flush();
        // halt, not exit: Runtime.exit asks the platform's System.Logger whether to log the
        // exit, which loads the logging framework, ~8 ms of every call (docs/performance.md,
        // "Start-up"). Nothing here needs shutdown hooks: every command has closed (and so
        // synced) its images before execute returns, and its output is flushed above.
        Runtime.getRuntime().halt(code);
    }

    /** Runs {@code qed} with {@code args}, printing to the given writers; returns the exit code. */
    public static int execute(String[] args, PrintWriter out, PrintWriter err) {
        return execute(args, System.in, out, err);
    }

    /** As {@link #execute(String[], PrintWriter, PrintWriter)}, with {@code in} as standard input ({@code qed io} without {@code -c}). */
    static int execute(String[] args, InputStream in, PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(new QedCommand().declare());
        Function<InputStream, DeclaredCommand> named = args.length > 0 ? COMMANDS.get(args[0]) : null;
        if (named != null) {
            cli.addSubcommand(args[0], new CommandLine(named.apply(in).declare()));
        } else {
            COMMANDS.forEach((name, make) -> cli.addSubcommand(name, new CommandLine(make.apply(in).declare())));
            cli.addSubcommand("help", new CommandLine.HelpCommand()); // annotated, picocli's own: read only here
        }
        // qemu-img and qemu-io take a repeated option's last value (the iotests harness
        // passes -f twice); picocli refuses that unless told.
        cli.setOverwrittenOptionsAllowed(true);
        // qemu-img resize takes a shrinking size as "-1M" after the file name, without "--".
        CommandLine resize = cli.getSubcommands().get("resize");
        if (resize != null) {
            resize.setUnmatchedOptionsArePositionalParams(true);
        }
        cli.setOut(out);
        cli.setErr(err);
        String program = programFor(args);
        cli.setParameterExceptionHandler((e, a) -> {
            err.println(program + e.getMessage());
            err.flush();
            return 1;
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            String line = program + describe(e);
            err.println(line);
            Detail.print(err, line, e instanceof CliException c ? c.detail() : null);
            err.flush();
            return 1;
        });
        return cli.execute(args);
    }

    /**
     * The prefix of an error line: the QEMU program the command stands in for
     * ({@code qemu-io: } for {@code qed io}, {@code qemu-img: } for the rest), as QEMU
     * prefixes its errors with its program's name. Scripts and QEMU's own tests match on
     * these lines; docs/compatibility.md has the rule.
     */
    static String programFor(String[] args) {
        if (args.length > 0 && args[0].equals("io")) {
            return "qemu-io: ";
        }
        return args.length > 0 && args[0].equals("serve") ? "qemu-nbd: " : "qemu-img: ";
    }

    private static String describe(Exception e) {
        String message = e.getMessage();
        return message == null ? e.getClass().getSimpleName() : message;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = QedCommand.class.getPackage().getImplementationVersion();
            return new String[]{"qed (qedkit) " + (v == null ? "development build" : v)};
        }
    }
}
