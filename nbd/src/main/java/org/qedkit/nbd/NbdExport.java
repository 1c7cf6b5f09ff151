package org.qedkit.nbd;

import org.qedkit.QedImage;

import java.util.Objects;

/**
 * One image as an NBD client sees it: the name a client asks for, the open image, and what
 * clients may do with it. Immutable; the server never closes the image (its owner does, after
 * {@link NbdServer#close()}).
 *
 * @param name        the export name clients ask for ({@code ""} is the default export)
 * @param image       the open image served
 * @param readOnly    whether clients may only read (always true for an image opened read-only)
 * @param description text shown to clients that ask for it ({@code NBD_INFO_DESCRIPTION}), or empty
 * @param unmap       whether {@code NBD_CMD_TRIM} and {@code NBD_CMD_WRITE_ZEROES} give
 *                    clusters back ({@link QedImage#discard}), as {@code qemu-nbd --discard=unmap};
 *                    when false, a trim is accepted and does nothing, and zeroes are written
 *                    without freeing anything
 */
public record NbdExport(String name, QedImage image, boolean readOnly, String description, boolean unmap) {

    /**
     * Checks the components.
     *
     * @param name        the export name
     * @param image       the open image
     * @param readOnly    whether clients may only read
     * @param description text for clients, or empty
     * @param unmap       whether trims free space
     */
    public NbdExport {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(image, "image");
        Objects.requireNonNull(description, "description");
        if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > NbdWire.MAX_STRING) {
            throw new IllegalArgumentException("export name: " + name.length()
                    + " characters; NBD names are at most 4096 bytes");
        }
        readOnly = readOnly || image.isReadOnly();
    }

    /**
     * {@return an export of {@code image} named {@code name}: writable when the image is, trims ignored}
     *
     * @param name  the export name clients ask for
     * @param image the open image
     */
    public static NbdExport of(String name, QedImage image) {
        return new NbdExport(name, image, image.isReadOnly(), "", false);
    }

    /**
     * {@return this export, read-only for clients when {@code only} is true}
     *
     * @param only whether clients may only read
     */
    public NbdExport withReadOnly(boolean only) {
        return new NbdExport(name, image, only, description, unmap);
    }

    /**
     * {@return this export with the description clients see}
     *
     * @param text the description
     */
    public NbdExport withDescription(String text) {
        return new NbdExport(name, image, readOnly, text, unmap);
    }

    /**
     * {@return this export, freeing space on trims when {@code freeOnTrim} is true}
     *
     * @param freeOnTrim whether trims and zero writes give clusters back
     */
    public NbdExport withUnmap(boolean freeOnTrim) {
        return new NbdExport(name, image, readOnly, description, freeOnTrim);
    }
}
