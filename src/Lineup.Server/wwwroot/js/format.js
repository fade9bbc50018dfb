// Formatting of numbers, rates and times for display. Pure functions, no DOM.

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const twoSignificant = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 2 });

export function formatInteger(value) {
    return Number.isFinite(value) ? integer.format(value) : '—';
}

export function formatFixed(value, digits) {
    return Number.isFinite(value) ? value.toFixed(digits) : '—';
}

/** An estimated false-match rate as "1 in 12,000" (two significant figures); null when there is none. */
export function formatOneIn(rate) {
    if (!Number.isFinite(rate) || rate < 0) {
        return null;
    }
    if (rate === 0) {
        return 'less than 1 in 10¹⁵';
    }
    if (rate >= 1) {
        return '1 in 1';
    }
    const oneIn = 1 / rate;
    if (oneIn >= 1e15) {
        return 'less than 1 in 10¹⁵';
    }
    return `1 in ${twoSignificant.format(oneIn)}`;
}

/** The raw rate, short: 8.33e-5. */
export function formatRaw(rate) {
    if (!Number.isFinite(rate)) {
        return '—';
    }
    if (rate === 0) {
        return '0';
    }
    return rate >= 0.01 ? String(Number(rate.toPrecision(3))) : rate.toExponential(2).replace('e-', 'e−');
}

/** Expected false candidates (FMR × faces searched), short. */
export function formatExpected(value) {
    if (!Number.isFinite(value)) {
        return '—';
    }
    if (value === 0) {
        return '0';
    }
    if (value >= 100) {
        return formatInteger(value);
    }
    return value >= 0.001 ? String(Number(value.toPrecision(2))) : value.toExponential(1).replace('e-', 'e−');
}

const ISO = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

function zone(offset) {
    if (!offset) {
        return '';
    }
    if (/^z$/i.test(offset) || /^[+-]00:?00$/.test(offset)) {
        return ' UTC';
    }
    return ` UTC${offset.length === 5 ? `${offset.slice(0, 3)}:${offset.slice(3)}` : offset}`;
}

/**
 * A time as the server recorded it, without converting it to this browser's zone: "2023-05-14 10:22:05 UTC+02:00".
 * Anything that is not ISO 8601 is shown as it came.
 */
export function formatDateTime(value) {
    if (typeof value !== 'string' || !value) {
        return null;
    }
    const match = ISO.exec(value.trim());
    if (!match) {
        return value;
    }
    const [, date, hm, seconds, offset] = match;
    if (!hm) {
        return date;
    }
    return `${date} ${hm}:${seconds ?? '00'}${zone(offset)}`;
}

/** The calendar date of an ISO time as recorded (no zone conversion): "2023-05-14". */
export function formatDate(value) {
    if (typeof value !== 'string' || !value) {
        return null;
    }
    const match = ISO.exec(value.trim());
    return match ? match[1] : value;
}

export function plural(count, one, many) {
    return `${formatInteger(count)} ${count === 1 ? one : many}`;
}

// Characters that reorder or hide text: shown as visible markers in untrusted strings so that a crafted URL or path
// cannot display as something else.
const HIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

export function visibleText(value) {
    return String(value).replace(HIDDEN, (ch) => `[U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** The end of a calendar day (yyyy-mm-dd from a date input) in UTC, as ISO 8601: what "authorised until" means. */
export function endOfDayUtc(date) {
    return /^\d{4}-\d{2}-\d{2}$/.test(date ?? '') ? `${date}T23:59:59Z` : null;
}

/** Today's date in UTC as yyyy-mm-dd (the earliest a date input for an expiry may take). */
export function todayUtc() {
    return new Date().toISOString().slice(0, 10);
}
