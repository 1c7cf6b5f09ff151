package org.qedkit.cli;

import org.qedkit.QemuImageName;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The ways QEMU's tools name an image, turned into a file and a format: a plain file name,
 * {@code file:NAME}, {@code json:{…}} (QEMU's option tree), and with {@code --image-opts}
 * the same tree as {@code key=value} pairs with dotted keys ({@code driver=qed,file.filename=a.qed}).
 * The parsing is the engine's ({@link QemuImageName}), which follows the layers it can
 * stand behind (file, blkdebug, quorum) down to the file; options that change nothing for
 * a mapped image are accepted.
 */
final class ImageNames {
    private ImageNames() {
    }

    /**
     * An image as named: its file, the format the name gave (null when it gave none), the
     * name QEMU shows for it ({@code shown}: the name itself when it is not a plain path,
     * else null), whether it has a directory for relative backing names, and the blkdebug
     * {@code inject-error} rules on its way to the file.
     */
    record Named(Path file, String format, String shown, boolean directoryKnown,
                 List<QemuImageName.InjectedError> injectedErrors) {
    }

    /** Resolves {@code name}; {@code imageOpts} says it is a {@code key=value} option string. */
    static Named resolve(String name, boolean imageOpts) {
        QemuImageName parsed;
        try {
            parsed = imageOpts ? QemuImageName.fromOptions(IoSession.parseOptions(name), name)
                    : QemuImageName.parse(name);
        } catch (IllegalArgumentException e) {
            throw new CliException("Could not open '" + name + "': " + e.getMessage());
        }
        return new Named(parsed.file(), parsed.format(), parsed.reconstructable() ? null : name,
                parsed.directoryKnown(), parsed.injectedErrors());
    }

    /** The option tree of a {@code json:{…}} name, flattened to dotted keys ({@code file.filename}). */
    static Map<String, String> jsonOptions(String name) {
        return QemuImageName.flatOptions(name);
    }
}
