package org.qedkit;

/**
 * An image, or options for a new one, break a rule of the QED format. The message names the
 * field, the value found and the rule; the same three are available to programs.
 *
 * <p>Thrown on open for a bad header, on create for bad options, and while reading or
 * writing when a table entry is found to be corrupt (the field is then the entry, e.g.
 * {@code L2[3][17]}).
 */
public class QedFormatException extends QedException {
    private static final long serialVersionUID = 1L;

    private final String field;
    private final String value;
    private final String rule;

    /**
     * A broken rule of the format.
     *
     * @param field the header field or table entry that broke the rule
     * @param value the value found
     * @param rule  the rule, in words
     */
    public QedFormatException(String field, String value, String rule) {
        super(field + " is " + value + ": " + rule);
        this.field = field;
        this.value = value;
        this.rule = rule;
    }

    /** {@return the header field or table entry that broke the rule, e.g. {@code cluster_size}} */
    public String field() {
        return field;
    }

    /** {@return the offending value as found, in the radix the format uses for it} */
    public String value() {
        return value;
    }

    /** {@return the rule, in words} */
    public String rule() {
        return rule;
    }
}
