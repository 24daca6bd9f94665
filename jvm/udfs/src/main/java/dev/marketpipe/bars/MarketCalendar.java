package dev.marketpipe.bars;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.LocalTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Session segments of one exchange calendar; mirrors Python {@code udfs.market.calendar.MarketCalendar}.
 * Java cannot run {@code exchange_calendars}, so the segments of every trading day come from a file
 * written by Python {@code udfs.market.calendar_export} (the Python class's own numbers) — see
 * {@link #load}. Lookups (and their caches, including the last-answer shortcut that Python's
 * {@code slot} has) follow the Python code step by step. Not thread-safe, like the Python object.
 */
public final class MarketCalendar {
    static final long NS_PER_DAY = 86_400L * 1_000_000_000L;
    private static final SessionSlot[] CLOSED = new SessionSlot[0];
    private static final int EXPORT_VERSION = 1;

    private final String name;
    private final LocalTime preOpen;
    private final LocalTime postClose;
    private final LocalDate first;
    private final LocalDate last;
    private final Map<LocalDate, SessionSlot[]> days;
    private final Map<Long, SessionSlot[]> byUtcDay = new HashMap<>();
    private SessionSlot lastSlot;

    private MarketCalendar(String name, LocalTime preOpen, LocalTime postClose, LocalDate first, LocalDate last,
                           Map<LocalDate, SessionSlot[]> days) {
        this.name = name;
        this.preOpen = preOpen;
        this.postClose = postClose;
        this.first = first;
        this.last = last;
        this.days = days;
    }

    public String name() {
        return name;
    }

    public LocalTime preOpen() {
        return preOpen;
    }

    public LocalTime postClose() {
        return postClose;
    }

    /**
     * Every calendar of an export file (Python {@code calendar_export.export_calendars}), in file order.
     * Format, one record a line: {@code calendar,NAME,PRE_OPEN,POST_CLOSE,FIRST,LAST} starts a
     * calendar; each following {@code DATE,OPEN_NS,CLOSE_NS[,SESSION,START_NS,END_NS]...} line is one
     * trading day with its segments; {@code #} lines are comments; the first line is
     * {@code version,1}.
     */
    public static List<MarketCalendar> load(String path) {
        List<String> lines;
        try {
            lines = Files.readAllLines(Path.of(path), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException(path + ": cannot read: " + e, e);
        }
        List<MarketCalendar> calendars = new ArrayList<>();
        String[] head = null;
        Map<LocalDate, SessionSlot[]> days = null;
        boolean versioned = false;
        int lineno = 0;
        for (String line : lines) {
            lineno++;
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.split(",", -1);
            if (!versioned) {
                if (!f[0].equals("version") || Integer.parseInt(f[1]) != EXPORT_VERSION) {
                    throw new IllegalArgumentException(path + ":" + lineno + ": not a calendar export of version "
                            + EXPORT_VERSION);
                }
                versioned = true;
                continue;
            }
            if (f[0].equals("calendar")) {
                if (head != null) {
                    calendars.add(build(head, days));
                }
                head = f;
                days = new HashMap<>();
                continue;
            }
            if (head == null || (f.length - 3) % 3 != 0) {
                throw new IllegalArgumentException(path + ":" + lineno + ": bad calendar export line");
            }
            LocalDate d = LocalDate.parse(f[0]);
            long open = Long.parseLong(f[1]);
            long close = Long.parseLong(f[2]);
            SessionSlot[] slots = new SessionSlot[(f.length - 3) / 3];
            for (int i = 0; i < slots.length; i++) {
                int k = 3 + 3 * i;
                slots[i] = new SessionSlot(f[k].intern(), d, Long.parseLong(f[k + 1]), Long.parseLong(f[k + 2]),
                        open, close);
            }
            days.put(d, slots);
        }
        if (head != null) {
            calendars.add(build(head, days));
        }
        return calendars;
    }

    private static MarketCalendar build(String[] head, Map<LocalDate, SessionSlot[]> days) {
        return new MarketCalendar(head[1], LocalTime.parse(head[2]), LocalTime.parse(head[3]),
                LocalDate.parse(head[4]), LocalDate.parse(head[5]), days);
    }

    /**
     * Python {@code MarketCalendar.slot}: the segment containing {@code tsNs}; null on a closed day or
     * outside pre..post; {@link OutsideCalendarException} where Python raises ValueError (a day
     * next to the time's UTC day is outside the calendar's range).
     */
    public SessionSlot slot(long tsNs) {
        SessionSlot prev = lastSlot;
        if (prev != null && prev.startNs <= tsNs && tsNs < prev.endNs) {
            return prev;
        }
        long utcDay = Math.floorDiv(tsNs, NS_PER_DAY);
        SessionSlot[] candidates = byUtcDay.get(utcDay);
        if (candidates == null) {
            candidates = overlapping(utcDay);
        }
        for (SessionSlot s : candidates) {
            if (s.startNs <= tsNs && tsNs < s.endNs) {
                lastSlot = s;
                return s;
            }
        }
        return null;
    }

    /** Python {@code MarketCalendar.day}: the segments of trading day {@code d}; empty when closed. */
    public SessionSlot[] day(LocalDate d) {
        if (d.isBefore(first) || d.isAfter(last)) {
            throw new OutsideCalendarException(d + " is outside the " + name + " calendar's range " + first + ".."
                    + last + " (exchange_calendars covers from 1990 to about a year ahead)");
        }
        SessionSlot[] slots = days.get(d);
        return slots == null ? CLOSED : slots;
    }

    /** Python {@code MarketCalendar._overlapping}: segments of the local days around a UTC day (cached). */
    private SessionSlot[] overlapping(long utcDay) {
        long lo = utcDay * NS_PER_DAY;
        long hi = (utcDay + 1) * NS_PER_DAY;
        LocalDate d = LocalDate.ofEpochDay(utcDay);
        List<SessionSlot> found = new ArrayList<>(6);
        for (int k = -1; k <= 1; k++) {
            for (SessionSlot s : day(d.plusDays(k))) {
                if (s.startNs < hi && s.endNs > lo) {
                    found.add(s);
                }
            }
        }
        if (byUtcDay.size() > 20_000) {
            byUtcDay.clear();
        }
        SessionSlot[] result = found.toArray(CLOSED);
        byUtcDay.put(utcDay, result);
        return result;
    }
}
