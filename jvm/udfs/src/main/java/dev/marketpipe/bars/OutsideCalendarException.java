package dev.marketpipe.bars;

/** A time the exchange calendar does not cover: where Python {@code MarketCalendar} raises ValueError. */
public final class OutsideCalendarException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public OutsideCalendarException(String message) {
        super(message);
    }
}
