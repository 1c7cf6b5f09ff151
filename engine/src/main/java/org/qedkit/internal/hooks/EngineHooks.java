package org.qedkit.internal.hooks;

import org.qedkit.OpenOptions;
import org.qedkit.QedImage;
import org.qedkit.internal.ImageOpener;

import java.io.IOException;
import java.nio.file.Path;

/** Opens an image with an {@link OpenContext}: the way in for tests and campaigns. */
public final class EngineHooks {
    private EngineHooks() {
    }

    /** As {@link QedImage#open(Path, OpenOptions)}, with {@code context}'s hooks attached to this image alone. */
    public static QedImage open(Path path, OpenOptions options, OpenContext context) throws IOException {
        return ImageOpener.open(path, options, context);
    }
}
