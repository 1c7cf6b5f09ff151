package org.qedkit.internal;

import org.qedkit.QedImage;

import java.util.Objects;

/**
 * How the internal opener makes a {@link QedImage}, whose constructor the public package
 * keeps to itself: {@code QedImage} hands over a factory once, as it initializes (the JDK's
 * "shared secrets" pattern). Set once and never changed, so it is no mutable JVM-wide state.
 */
public final class EngineAccess {
    /** Makes the public facade over an image's opened parts. */
    @FunctionalInterface
    public interface ImageFactory {
        /** The facade over {@code parts}. */
        QedImage newImage(OpenedImage parts);
    }

    private static volatile ImageFactory factory;

    private EngineAccess() {
    }

    /** Called once, by {@code QedImage}'s static initializer. */
    public static synchronized void setImageFactory(ImageFactory imageFactory) {
        if (factory != null) {
            throw new IllegalStateException("the image factory is set once, by QedImage");
        }
        factory = Objects.requireNonNull(imageFactory, "imageFactory");
    }

    static QedImage newImage(OpenedImage parts) {
        ImageFactory f = factory;
        if (f == null) {
            try { // initializing QedImage sets the factory
                Class.forName(QedImage.class.getName(), true, QedImage.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                throw new IllegalStateException(e);
            }
            f = factory;
        }
        return f.newImage(parts);
    }
}
