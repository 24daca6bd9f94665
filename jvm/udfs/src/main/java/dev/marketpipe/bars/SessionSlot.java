package dev.marketpipe.bars;

import java.time.LocalDate;

/**
 * One session segment of one trading day, all instants epoch ns UTC; mirrors Python
 * {@code udfs.market.calendar.SessionSlot}. {@code session} is "pre", "regular" or "post".
 */
public final class SessionSlot {
    public final String session;
    public final LocalDate sessionDate;
    public final long startNs;
    public final long endNs;
    public final long regularOpenNs;
    public final long regularCloseNs;

    public SessionSlot(String session, LocalDate sessionDate, long startNs, long endNs, long regularOpenNs,
                       long regularCloseNs) {
        this.session = session;
        this.sessionDate = sessionDate;
        this.startNs = startNs;
        this.endNs = endNs;
        this.regularOpenNs = regularOpenNs;
        this.regularCloseNs = regularCloseNs;
    }
}
