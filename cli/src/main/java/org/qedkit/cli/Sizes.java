package org.qedkit.cli;

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
        boolean hex = s.startsWith("0x") || s.startsWith("0X");
        if (unit >= 0 && !hex) {
            multiplier = 1L << (10 * unit);
            s = s.substring(0, s.length() - 1);
        }
        if (hex) {
            try {
                long v = Long.parseUnsignedLong(s.substring(2), 16);
                if (v < 0) {
                    throw invalid(text);
                }
                return v;
            } catch (NumberFormatException e) {
                throw invalid(text);
            }
        }
        // Digits, then optionally a point and more digits: no exponents (1e3), signs or
        // spaces, which qemu refuses too.
        int point = s.indexOf('.');
        String whole = point < 0 ? s : s.substring(0, point);
        String fraction = point < 0 ? "" : s.substring(point + 1);
        if (whole.isEmpty() || !digitsOnly(whole) || !digitsOnly(fraction)) {
            throw invalid(text);
        }
        // As qemu's qemu_strtosz: the whole part times the unit, plus the fraction times the
        // unit rounded down; a fraction needs a unit.
        boolean fractionZero = true;
        for (int i = 0; i < fraction.length(); i++) {
            fractionZero &= fraction.charAt(i) == '0';
        }
        if (multiplier == 1 && !fractionZero) {
            throw invalid(text);
        }
        long fractionBytes = fractionZero ? 0 : fractionOf(fraction, multiplier);
        long wholeValue;
        try {
            wholeValue = Long.parseLong(whole);
        } catch (NumberFormatException e) {
            throw tooLarge(text); // digits only: too many of them
        }
        if (wholeValue > (Long.MAX_VALUE - fractionBytes) / multiplier) {
            throw tooLarge(text);
        }
        return wholeValue * multiplier + fractionBytes;
    }

    private static boolean digitsOnly(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }

    /**
     * {@code 0.DIGITS × multiplier}, rounded down, exactly: the digits are a decimal fraction
     * {@code f / 10^k}, so the bytes are {@code f × multiplier / 10^k}, in 128-bit integer
     * arithmetic. (Over 18 digits, {@code f} no longer fits a long: that rare case takes
     * {@code BigDecimal}, which the common one avoids: loading it costs a command ~15 ms.)
     */
    private static long fractionOf(String digits, long multiplier) {
        if (digits.length() > 18) {
            return new java.math.BigDecimal("0." + digits).multiply(java.math.BigDecimal.valueOf(multiplier))
                    .longValue();
        }
        long f = Long.parseLong(digits);
        long scale = 1;
        for (int i = 0; i < digits.length(); i++) {
            scale *= 10;
        }
        // f × multiplier may need up to 120 bits: multiply as 128-bit, divide by the scale.
        long high = Math.unsignedMultiplyHigh(f, multiplier);
        long low = f * multiplier;
        return divide128(high, low, scale);
    }

    /** {@code (high·2^64 + low) / divisor}, rounded down; the quotient fits in a long here (it is below the multiplier). */
    private static long divide128(long high, long low, long divisor) {
        long quotient = 0;
        long remainder = high; // high < divisor, since the product over the divisor is below 2^63
        for (int bit = 63; bit >= 0; bit--) {
            boolean carry = remainder < 0; // the remainder's top bit is about to be shifted out
            remainder = (remainder << 1) | ((low >>> bit) & 1);
            quotient <<= 1;
            if (carry || Long.compareUnsigned(remainder, divisor) >= 0) {
                remainder -= divisor;
                quotient |= 1;
            }
        }
        return quotient;
    }

    private static IllegalArgumentException invalid(String text) {
        return new IllegalArgumentException("'" + text + "' is not a size: use a number of bytes,"
                + " optionally with one of the suffixes k, M, G, T, P or E");
    }

    private static IllegalArgumentException tooLarge(String text) {
        return new IllegalArgumentException("value " + text + " is too large: at most " + Long.MAX_VALUE + " bytes");
    }

    /**
     * qemu-img's size_to_str: {@code printf("%0.3g %sB")} of the size in the unit that
     * leaves it below 1000. The value is {@code bytes / 2^(10i)}, a binary fraction, so it
     * is rounded exactly, to three significant digits, half to even, as printf rounds it;
     * trailing zeros go, as {@code %g} drops them.
     */
    static String qemuImgHuman(long bytes) {
        String[] prefixes = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        // floor(log2(bytes * 1024 / 1000)) / 10 picks a unit in which the value is below 1000.
        int exponent = bytes <= 0 ? 0 : Math.getExponent(bytes / (1000.0 / 1024.0));
        int i = Math.max(0, exponent) / 10;
        int shift = 10 * i;
        long whole = bytes >>> shift;
        // Decimals for three significant digits: the value is at least 1000/1024 in any unit
        // above bytes, so below 1 it has one leading zero.
        int decimals = whole >= 100 ? 0 : whole >= 10 ? 1 : whole >= 1 ? 2 : 3;
        long scaled = roundedScaled(bytes, shift, decimals);
        if (decimals == 0 && scaled >= 1000) {
            return "1e+03 " + prefixes[i] + "B"; // %g's exponent form, when rounding reaches 1000
        }
        return decimal(scaled, decimals) + " " + prefixes[i] + "B";
    }

    /** {@code bytes / 2^shift × 10^decimals}, rounded half to even, exactly. */
    private static long roundedScaled(long bytes, int shift, int decimals) {
        long power = decimals == 0 ? 1 : decimals == 1 ? 10 : decimals == 2 ? 100 : 1000;
        long whole = bytes >>> shift;
        long rest = shift == 0 ? 0 : bytes & ((1L << shift) - 1);
        // rest × power < 2^shift × 1000 ≤ 2^70: 128-bit product, then split at the shift.
        long high = Math.unsignedMultiplyHigh(rest, power);
        long low = rest * power;
        long quotient = shift == 0 ? 0 : shift == 64 ? high : (high << (64 - shift)) | (low >>> shift);
        long remainder = shift == 0 ? 0 : low & ((1L << shift) - 1);
        long half = shift == 0 ? 1 : 1L << (shift - 1);
        long scaled = whole * power + quotient;
        if (remainder > half || (remainder == half && (scaled & 1) == 1)) {
            scaled++;
        }
        return scaled;
    }

    /** {@code scaled / 10^decimals} in plain decimal, trailing zeros (and a bare point) dropped. */
    private static String decimal(long scaled, int decimals) {
        String digits = Long.toString(scaled);
        if (decimals == 0) {
            return digits;
        }
        while (digits.length() <= decimals) {
            digits = "0" + digits;
        }
        String text = digits.substring(0, digits.length() - decimals) + "." + digits.substring(digits.length() - decimals);
        int end = text.length();
        while (text.charAt(end - 1) == '0') {
            end--;
        }
        if (text.charAt(end - 1) == '.') {
            end--;
        }
        return text.substring(0, end);
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

    /**
     * printf's {@code %.3f} of {@code v} (0 ≤ v < 2^53 here), with {@code .000} dropped.
     * printf rounds the exact binary value half to even (1.0625 gives "1.062"); so does
     * this: {@code v} is {@code m × 2^e}, and {@code m × 1000} fits in a long.
     */
    private static String trimmed(double v) {
        long scaled;
        if (v == 0 || Double.isNaN(v)) {
            scaled = 0;
        } else {
            int e = Math.getExponent(v) - 52;
            long m = (Double.doubleToRawLongBits(v) & ((1L << 52) - 1)) | (1L << 52);
            if (Math.getExponent(v) < Double.MIN_EXPONENT) {
                m = Double.doubleToRawLongBits(v) & ((1L << 52) - 1); // subnormal
                e = Double.MIN_EXPONENT - 52;
            }
            long n = m * 1000;
            if (e >= 0) {
                scaled = n << e;
            } else if (-e >= 64) {
                scaled = 0; // n × 2^e is below 2^63 × 2^-64 = 1/2 of a thousandth: rounds to 0.000
            } else {
                int shift = -e;
                long q = n >>> shift;
                long r = n & ((1L << shift) - 1);
                long half = 1L << (shift - 1);
                scaled = (r > half || (r == half && (q & 1) == 1)) ? q + 1 : q;
            }
        }
        long thousandths = scaled % 1000;
        if (thousandths == 0) {
            return Long.toString(scaled / 1000);
        }
        return scaled / 1000 + (thousandths < 10 ? ".00" : thousandths < 100 ? ".0" : ".") + thousandths;
    }
}
