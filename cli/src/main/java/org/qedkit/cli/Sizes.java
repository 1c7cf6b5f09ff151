package org.qedkit.cli;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;

/**
 * Sizes as QEMU's tools read and print them, so output and scripts carry over unchanged.
 *
 * <ul>
 *   <li>{@link #parse}: qemu-img and qemu-io numbers: decimal (fractions allowed with a
 *       suffix), hexadecimal with {@code 0x}, and the suffixes {@code B k K M G T P E}
 *       (case-insensitive, powers of 1024).</li>
 *   <li>{@link #qemuImgHuman}: qemu-img's {@code size_to_str}, three significant digits,
 *       e.g. {@code 644 KiB}, {@code 10 MiB}, {@code 1.5 GiB}.</li>
 *   <li>{@link #qemuIoHuman}: qemu-io's {@code cvtstr}, three decimals with {@code .000}
 *       dropped, e.g. {@code 512 bytes}, {@code 9.766 KiB}.</li>
 * </ul>
 */
final class Sizes {
    private static final String UNITS = "BKMGTPE";

    private Sizes() {
    }

    /** Parses a size; throws {@link IllegalArgumentException} with qemu's wording when it is not one. */
    static long parse(String text) {
        String s = text.trim();
        if (s.isEmpty()) {
            throw invalid(text);
        }
        long multiplier = 1;
        char last = Character.toUpperCase(s.charAt(s.length() - 1));
        int unit = UNITS.indexOf(last);
        if (unit >= 0 && !(s.startsWith("0x") || s.startsWith("0X"))) {
            multiplier = 1L << (10 * unit);
            s = s.substring(0, s.length() - 1);
        }
        try {
            if (s.startsWith("0x") || s.startsWith("0X")) {
                long v = Long.parseUnsignedLong(s.substring(2), 16);
                if (v < 0) {
                    throw invalid(text);
                }
                return v;
            }
            if (!s.matches("[0-9]+(\\.[0-9]*)?")) {
                throw invalid(text); // no exponents (1e3), signs or spaces, which qemu refuses too
            }
            BigDecimal value = new BigDecimal(s);
            if (value.signum() < 0 || (value.scale() > 0 && multiplier == 1 && value.stripTrailingZeros().scale() > 0)) {
                throw invalid(text);
            }
            BigDecimal bytes = value.multiply(BigDecimal.valueOf(multiplier));
            if (bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
                throw new IllegalArgumentException("value " + text + " is too large: at most "
                        + Long.MAX_VALUE + " bytes");
            }
            return bytes.setScale(0, RoundingMode.DOWN).longValueExact();
        } catch (NumberFormatException | ArithmeticException e) {
            throw invalid(text);
        }
    }

    private static IllegalArgumentException invalid(String text) {
        return new IllegalArgumentException("'" + text + "' is not a size: use a number of bytes,"
                + " optionally with one of the suffixes k, M, G, T, P or E");
    }

    /** qemu-img's size_to_str. */
    static String qemuImgHuman(long bytes) {
        String[] prefixes = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        // floor(log2(bytes * 1024 / 1000)) / 10 picks a unit in which the value is below 1000.
        int exponent = bytes <= 0 ? 0 : Math.getExponent(bytes / (1000.0 / 1024.0));
        int i = Math.max(0, exponent) / 10;
        BigDecimal value = BigDecimal.valueOf(bytes).divide(BigDecimal.valueOf(1L << (10 * i)));
        BigDecimal rounded = value.round(new MathContext(3, RoundingMode.HALF_EVEN));
        return plain(rounded) + " " + prefixes[i] + "B";
    }

    /** qemu-io's cvtstr. */
    static String qemuIoHuman(double value) {
        String[] suffixes = {" EiB", " PiB", " TiB", " GiB", " MiB", " KiB"};
        for (int i = 0; i < suffixes.length; i++) {
            double unit = Math.pow(1024, 6 - i);
            if (value >= unit) {
                return trimmed(value / unit) + suffixes[i];
            }
        }
        return trimmed(value) + " bytes";
    }

    private static String trimmed(double v) {
        // printf rounds the exact binary value half-to-even (1.0625 -> "1.062"); so does this.
        String s = new BigDecimal(v).setScale(3, RoundingMode.HALF_EVEN).toPlainString();
        return s.endsWith(".000") ? s.substring(0, s.length() - 4) : s;
    }

    private static String plain(BigDecimal v) {
        BigDecimal stripped = v.stripTrailingZeros();
        return stripped.scale() < 0 ? stripped.setScale(0).toPlainString() : stripped.toPlainString();
    }
}
