package org.qedkit.cli;

import org.qedkit.Durability;
import org.qedkit.OpenOptions;
import org.qedkit.QedException;
import org.qedkit.QedImage;
import org.qedkit.nbd.NbdExport;
import org.qedkit.nbd.NbdServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code qed serve}: serves one QED image over NBD, with {@code qemu-nbd}'s option names so
 * that its users switch by changing the program name. Differences, on purpose: it listens
 * on 127.0.0.1 unless {@code -b} says otherwise (qemu-nbd: every interface), and with more
 * than one connection allowed ({@code -e}) it advertises multi-connection (see
 * {@link NbdServer}). SIGTERM and SIGINT stop it cleanly: no new client, every request read
 * is answered, the image is flushed and closed clean. {@code -s} serves a temporary overlay
 * ({@link SnapshotOverlay}); {@code --fork} goes on in the background ({@link ServeInBackground});
 * qemu-nbd options with no meaning here ({@code -c}, {@code -l}, {@code -B}, TLS) are refused
 * with what to do instead.
 */
@Command(name = "serve", description = "Serve a QED image over NBD, as qemu-nbd does.")
final class ServeCommand implements Callable<Integer> {

    @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "Image format: qed.") String format;
    @Parameters(index = "0", arity = "0..1", paramLabel = "FILE",
            description = "The image: a file name, file:NAME, or json:{…} as QEMU takes them (not with --export-dir).")
    String name;
    @Option(names = "--export-dir", paramLabel = "DIR",
            description = "Serve every QED image under DIR, named by its path relative to DIR, opened on first use; "
                    + "names and backing files must stay inside DIR.") Path exportDir;
    @Option(names = {"-r", "--read-only"}, description = "Export read-only: clients may not write.") boolean readOnly;
    @Option(names = {"-x", "--export-name"}, paramLabel = "NAME", defaultValue = "",
            description = "The export's name (default: the empty name, the default export).") String exportName;
    @Option(names = {"-D", "--description"}, paramLabel = "TEXT", defaultValue = "",
            description = "A description clients may show.") String description;
    @Option(names = {"-k", "--socket"}, paramLabel = "PATH", description = "Listen on this Unix socket instead of TCP.") Path socket;
    @Option(names = {"-b", "--bind"}, paramLabel = "ADDR", defaultValue = "127.0.0.1",
            description = "TCP address to listen on (default: 127.0.0.1, this machine only).") String bind;
    @Option(names = {"-p", "--port"}, paramLabel = "PORT", defaultValue = "10809",
            description = "TCP port to listen on (default: 10809).") int port;
    @Option(names = {"-t", "--persistent"}, description = "Keep serving after the last client leaves.") boolean persistent;
    @Option(names = {"-e", "--shared"}, paramLabel = "NUM", defaultValue = "1",
            description = "Clients served at a time (default 1; 0: no limit).") int shared;
    @Option(names = "--cache", paramLabel = "MODE", defaultValue = "writeback",
            description = "writeback (flush makes writes durable) or writethrough (every write is durable when it is answered); "
                    + "none, directsync and unsafe as qemu-nbd maps them.") String cache;
    @Option(names = "--discard", paramLabel = "MODE", defaultValue = "ignore",
            description = "ignore (trims do nothing) or unmap (trims give clusters back to the file system).") String discard;
    @Option(names = "--pid-file", paramLabel = "FILE", description = "Write the server's process id here.") Path pidFile;
    @Option(names = "--handshake-limit", paramLabel = "SECONDS", defaultValue = "10",
            description = "Drop a client that has not finished its handshake within this time.") int handshakeSeconds;
    @Option(names = "--image-opts", description = "FILE is QEMU's option string (driver=qed,file.filename=…).") boolean imageOpts;
    @Option(names = {"-s", "--snapshot"}, description = "Serve a temporary overlay of FILE: clients' writes go to it, "
            + "FILE is not changed, and the overlay is deleted when the server ends.") boolean snapshot;
    @Option(names = {"-A", "--allocation-depth"}, description = "Offer the qemu:allocation-depth context "
            + "(qed serve always offers it; accepted for qemu-nbd's command lines).") boolean allocationDepth;

    @Option(names = "--fork", description = "Go on in the background and return once the server listens "
            + "(exit code 1 if it printed errors before), as qemu-nbd --fork does.") boolean fork;

    /** The hidden option of the server {@link ServeInBackground} starts: say on standard error when listening. */
    static final String NOTIFY_READY = "--notify-ready";
    /** What that server prints, alone on a line, once it listens. */
    static final String READY_LINE = "qed serve: listening";
    @Option(names = NOTIFY_READY, hidden = true) boolean notifyReady;
    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    /*
     * qemu-nbd options that qed serve does not have, each refused with the reason instead of
     * "Unknown option", so a qemu-nbd user learns what to do instead.
     */
    @Option(names = {"-c", "--connect"}, paramLabel = "DEV", hidden = true) String connectDevice;
    @Option(names = {"-l", "--load-snapshot"}, paramLabel = "NAME", hidden = true) String loadSnapshot;
    @Option(names = {"-B", "--bitmap"}, paramLabel = "NAME", hidden = true) String bitmap;
    @Option(names = {"--tls-creds", "--tls-authz", "--tls-hostname", "--object"}, paramLabel = "ARG", hidden = true)
    List<String> tls;

    @Override
    public Integer call() throws IOException, InterruptedException {
        refuseWhatIsNotServed();
        if ((name == null) == (exportDir == null)) {
            throw new CliException("Give one image FILE or --export-dir DIR");
        }
        if (snapshot && (exportDir != null || readOnly)) {
            throw new CliException("-s/--snapshot serves a writable overlay of one FILE: not with "
                    + (exportDir != null ? "--export-dir" : "-r"));
        }
        Path file = null;
        if (name != null) {
            file = SharedOptions.qedFile("serve", name, imageOpts, format);
        } else if (!Files.isDirectory(exportDir)) {
            throw new CliException("--export-dir '" + exportDir + "': not a directory");
        }
        if (fork) {
            // Everything above is checked here, so a bad command line fails in the foreground.
            return ServeInBackground.start(spec.commandLine().getParseResult().originalArgs(),
                    spec.commandLine().getErr());
        }
        Path overlay = snapshot ? SnapshotOverlay.create(file) : null;
        try {
            return serve(overlay != null ? overlay : file);
        } finally {
            if (overlay != null) {
                SnapshotOverlay.delete(overlay);
            }
        }
    }

    /** qemu-nbd's options that have no meaning here, refused with what to do instead. */
    private void refuseWhatIsNotServed() {
        if (connectDevice != null) {
            throw new CliException("-c/--connect is not supported: qed serve does not attach kernel NBD devices;"
                    + " serve on a socket and connect " + connectDevice + " with nbd-client, or use nbdfuse");
        }
        if (loadSnapshot != null) {
            throw new CliException("-l/--load-snapshot: QED images have no internal snapshots");
        }
        if (bitmap != null) {
            throw new CliException("-B/--bitmap: QED images have no dirty bitmaps");
        }
        if (tls != null) {
            throw new CliException("TLS (--tls-creds, --tls-authz, --tls-hostname, --object) is not supported: serve on"
                    + " a Unix socket or on 127.0.0.1 (the default), or carry the connection through a tunnel");
        }
    }

    private int serve(Path file) throws IOException, InterruptedException {
        Durability durability = switch (cache) {
            case "writeback", "none", "unsafe" -> Durability.WRITE_BACK;
            case "writethrough", "directsync" -> Durability.WRITE_THROUGH;
            default -> throw new CliException("Invalid cache mode '" + cache + "'");
        };
        boolean unmap = switch (discard) {
            case "ignore", "off" -> false;
            case "unmap", "on" -> true;
            default -> throw new CliException("Invalid discard mode '" + discard + "'");
        };
        if (shared < 0) {
            throw new CliException("Invalid shared device number '" + shared + "'");
        }
        if (port < 1 || port > 65535) {
            throw new CliException("Invalid port number '" + port + "'");
        }
        SocketAddress address = socket != null
                ? UnixDomainSocketAddress.of(socket.toAbsolutePath())
                : new InetSocketAddress(InetAddress.getByName(bind), port);
        OpenOptions options = (readOnly ? OpenOptions.READ_ONLY : OpenOptions.READ_WRITE).withDurability(durability);
        QedImage opened = null;
        if (file != null) {
            try {
                opened = QedImage.open(file, options);
            } catch (QedException e) {
                throw new CliException("Failed to blk_new_open '" + file + "': "
                        + QemuMessages.openFailure(String.valueOf(file), e, readOnly), e.getMessage());
            }
        }
        try (QedImage served = opened) {
            NbdServer.Builder builder = NbdServer.builder();
            if (served != null) {
                builder.export(NbdExport.of(exportName, served).withReadOnly(readOnly)
                        .withDescription(description).withUnmap(unmap));
            } else {
                builder.exportDirectory(exportDir, options, unmap);
            }
            NbdServer server = builder
                    .listen(address)
                    .maxConnections(shared)
                    .multiConn(shared != 1)
                    .exitWhenIdle(!persistent)
                    .handshakeTimeout(java.time.Duration.ofSeconds(Math.max(1, handshakeSeconds)))
                    .build();
            server.start();
            try {
                stopOnSignals(server);
                if (pidFile != null) {
                    Files.writeString(pidFile, ProcessHandle.current().pid() + "\n");
                }
                if (notifyReady) {
                    spec.commandLine().getErr().println(READY_LINE);
                    spec.commandLine().getErr().flush();
                }
                server.awaitTermination();
            } finally {
                server.close();
                if (pidFile != null) {
                    Files.deleteIfExists(pidFile);
                }
            }
            // Closing the image (try-with-resources) commits, flushes and marks it clean; an
            // export directory's images are closed by the server.
        }
        return 0;
    }

    /**
     * SIGTERM and SIGINT close the server, and the command then ends as after its last
     * client: the image is closed clean and the exit code is 0, as qemu-nbd's is.
     */
    private static void stopOnSignals(NbdServer server) {
        for (String name : List.of("TERM", "INT")) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), s -> Thread.ofPlatform().start(server::close));
            } catch (IllegalArgumentException e) {
                // the signal is taken by the JVM (-Xrs): the default handling remains
            }
        }
    }
}
