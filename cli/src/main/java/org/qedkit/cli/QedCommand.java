package org.qedkit.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.InputStream;
import java.io.PrintWriter;

/**
 * {@code qed}: qemu-img and qemu-io style tools for QED images, on the qedkit engine.
 *
 * <p>Exit codes follow qemu-img: 0 on success, 1 on any error (bad arguments included),
 * and the documented codes of commands such as {@code check}. An error is one line on
 * standard error, prefixed {@code qed:}, that says what went wrong and with which file.
 */
@Command(name = "qed",
        mixinStandardHelpOptions = true,
        exitCodeOnInvalidInput = 1,
        exitCodeOnExecutionException = 1,
        versionProvider = QedCommand.Version.class,
        description = "Create, inspect and read or write QED (QEMU Enhanced Disk) images.",
        subcommands = {CreateCommand.class, InfoCommand.class, IoCommand.class, CheckCommand.class, CompareCommand.class,
                MapCommand.class, ConvertCommand.class, ResizeCommand.class, RebaseCommand.class, CommitCommand.class, MeasureCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class QedCommand implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(),
                "a command is needed: create, info, check, compare, map, convert, resize, rebase, commit, measure, bench or io (see qed --help)");
    }

    public static void main(String[] args) {
        System.exit(execute(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs {@code qed} with {@code args}, printing to the given writers; returns the exit code. */
    public static int execute(String[] args, PrintWriter out, PrintWriter err) {
        return execute(args, System.in, out, err);
    }

    /** As {@link #execute(String[], PrintWriter, PrintWriter)}, with {@code in} as standard input ({@code qed io} without {@code -c}). */
    static int execute(String[] args, InputStream in, PrintWriter out, PrintWriter err) {
        CommandLine.IFactory factory = new CommandLine.IFactory() {
            @Override
            public <K> K create(Class<K> type) throws Exception {
                return type == IoCommand.class ? type.cast(new IoCommand(in)) : CommandLine.defaultFactory().create(type);
            }
        };
        CommandLine cli = new CommandLine(new QedCommand(), factory);
        // Every command answers --help (and -h) with its own usage, and exits 0, as qemu-img's do.
        for (CommandLine sub : cli.getSubcommands().values()) {
            sub.getCommandSpec().mixinStandardHelpOptions(true);
        }
        // qemu-img and qemu-io take a repeated option's last value (the iotests harness
        // passes -f twice); picocli refuses that unless told.
        cli.setOverwrittenOptionsAllowed(true);
        // qemu-img resize takes a shrinking size as "-1M" after the file name, without "--".
        cli.getSubcommands().get("resize").setUnmatchedOptionsArePositionalParams(true);
        cli.setOut(out);
        cli.setErr(err);
        cli.setParameterExceptionHandler((e, a) -> {
            err.println("qed: " + e.getMessage());
            err.flush();
            return 1;
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            err.println("qed: " + describe(e));
            err.flush();
            return 1;
        });
        return cli.execute(args);
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
