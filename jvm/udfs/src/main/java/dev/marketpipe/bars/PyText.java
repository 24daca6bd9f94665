package dev.marketpipe.bars;

import java.util.ArrayList;
import java.util.List;

/**
 * The few Python {@code str} operations the reference-data readers rely on, with Python's exact
 * definitions (Java's {@code trim}/{@code split}/{@code isWhitespace} differ on some characters).
 */
final class PyText {
    private PyText() {
    }

    /** Python {@code str.isspace} for one character (the set {@code str.split()} splits on). */
    static boolean isSpace(char c) {
        switch (c) {
            case ' ': case '\t': case '\n': case 0x0b: case 0x0c: case '\r':
            case 0x1c: case 0x1d: case 0x1e: case 0x1f: case 0x85: case 0xa0: case 0x1680:
            case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
                return true;
            default:
                return c >= 0x2000 && c <= 0x200a;
        }
    }

    /** Python {@code any(ch.isspace() for ch in s)}. */
    static boolean hasSpace(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (isSpace(s.charAt(i))) {
                return true;
            }
        }
        return false;
    }

    /** Python {@code s.split()}: runs of whitespace separate, no empty parts. */
    static List<String> split(String s) {
        List<String> parts = new ArrayList<>(4);
        int n = s.length();
        int i = 0;
        while (i < n) {
            while (i < n && isSpace(s.charAt(i))) {
                i++;
            }
            int start = i;
            while (i < n && !isSpace(s.charAt(i))) {
                i++;
            }
            if (i > start) {
                parts.add(s.substring(start, i));
            }
        }
        return parts;
    }

    /** Python {@code s.strip()}. */
    static String strip(String s) {
        int a = 0;
        int b = s.length();
        while (a < b && isSpace(s.charAt(a))) {
            a++;
        }
        while (b > a && isSpace(s.charAt(b - 1))) {
            b--;
        }
        return s.substring(a, b);
    }

    /** Python {@code s.lstrip()}. */
    static String lstrip(String s) {
        int a = 0;
        while (a < s.length() && isSpace(s.charAt(a))) {
            a++;
        }
        return s.substring(a);
    }

    /** Python {@code s.splitlines()}: the line boundaries Python recognises, without the ends. */
    static List<String> splitlines(String s) {
        List<String> lines = new ArrayList<>();
        int n = s.length();
        int start = 0;
        int i = 0;
        while (i < n) {
            char c = s.charAt(i);
            boolean eol = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d
                    || c == 0x1e || c == 0x85 || c == 0x2028 || c == 0x2029;
            if (!eol) {
                i++;
                continue;
            }
            lines.add(s.substring(start, i));
            i += (c == '\r' && i + 1 < n && s.charAt(i + 1) == '\n') ? 2 : 1;
            start = i;
        }
        if (start < n) {
            lines.add(s.substring(start));
        }
        return lines;
    }

    /** Python {@code s.lower()} for the ASCII flag words of the CSV tables. */
    static String lower(String s) {
        return s.toLowerCase(java.util.Locale.ROOT);
    }

    /** Python {@code next(csv.reader([line]))} with the default (excel) dialect. */
    static List<String> csvFields(String line) {
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        int state = 0; // 0 start of field, 1 in field, 2 in quoted field, 3 quote in quoted field
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            switch (state) {
                case 0:
                    if (c == '"') {
                        state = 2;
                    } else if (c == ',') {
                        fields.add("");
                    } else {
                        field.append(c);
                        state = 1;
                    }
                    break;
                case 1:
                    if (c == ',') {
                        fields.add(field.toString());
                        field.setLength(0);
                        state = 0;
                    } else {
                        field.append(c);
                    }
                    break;
                case 2:
                    if (c == '"') {
                        state = 3;
                    } else {
                        field.append(c);
                    }
                    break;
                default:
                    if (c == '"') {
                        field.append('"');
                        state = 2;
                    } else if (c == ',') {
                        fields.add(field.toString());
                        field.setLength(0);
                        state = 0;
                    } else {
                        field.append(c);
                        state = 1;
                    }
            }
        }
        fields.add(field.toString());
        return fields;
    }
}
