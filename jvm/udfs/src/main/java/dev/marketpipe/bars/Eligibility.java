package dev.marketpipe.bars;

/**
 * What one trade may do to a bar, after combining all of its condition codes; mirrors Python
 * {@code udfs.market.conditions.Eligibility} (and {@code combine}, {@code REGULAR}, {@code VOLUME_ONLY}).
 */
public final class Eligibility {
    /** A regular sale; also the neutral element of {@link #combine}. */
    public static final Eligibility REGULAR = new Eligibility(true, true, true, false, false, false);
    /** Unknown codes when a table has no '*' row. */
    public static final Eligibility VOLUME_ONLY = new Eligibility(false, false, true, false, false, false);

    public final boolean openClose;
    public final boolean highLow;
    public final boolean volume;
    public final boolean openingPrint;
    public final boolean closingPrint;
    public final boolean officialReport;

    public Eligibility(boolean openClose, boolean highLow, boolean volume, boolean openingPrint,
                       boolean closingPrint, boolean officialReport) {
        this.openClose = openClose;
        this.highLow = highLow;
        this.volume = volume;
        this.openingPrint = openingPrint;
        this.closingPrint = closingPrint;
        this.officialReport = officialReport;
    }

    /** Python {@code combine}: AND on the updates, OR on the flags. */
    public static Eligibility combine(Eligibility a, Eligibility b) {
        return new Eligibility(a.openClose && b.openClose, a.highLow && b.highLow, a.volume && b.volume,
                a.openingPrint || b.openingPrint, a.closingPrint || b.closingPrint,
                a.officialReport || b.officialReport);
    }
}
