// Pieces the oversight pages share: problem boxes, form errors, busy buttons, tags and tables whose cells carry their
// column name (narrow screens show each row as a block labelled by it). Text only ever goes in as text.

import { ApiError } from './api.js';
import { clear, el } from './dom.js';
import { formatDateTime, visibleText } from './format.js';
import { announceError, describeError } from './status.js';

/** Shows an error in a `.problem` box (title and detail) and on the status line; a 401 is left to the sign-in page. */
export function showProblemIn(box, error, fallbackTitle = 'Something went wrong') {
    if (error instanceof ApiError && error.status === 401) {
        return;
    }
    clear(box);
    box.append(el('p', { class: 'problem__title', text: error?.title ?? fallbackTitle }));
    const detail = error instanceof ApiError ? error.detail : null;
    if (detail) {
        box.append(el('p', { class: 'problem__detail', text: visibleText(detail) }));
    }
    box.hidden = false;
    announceError(describeError(error));
}

export function hideProblemIn(box) {
    clear(box);
    box.hidden = true;
}

/** A form's error line: the message (or none), with the input marked invalid and described by it. */
export function setFormError(box, message, input = null) {
    box.textContent = message || '';
    box.hidden = !message;
    if (input) {
        if (message) {
            input.setAttribute('aria-invalid', 'true');
            input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), box.id].filter(Boolean).join(' '));
            input.focus();
        } else {
            input.removeAttribute('aria-invalid');
        }
    }
    if (message) {
        announceError(message);
    }
}

/** The message of a failed request for a form's error line. */
export function errorText(error) {
    return describeError(error);
}

/** Runs `action` with the button disabled and labelled `busyLabel`; puts the label (its nodes, hidden text too) back after. */
export async function withBusy(button, busyLabel, action) {
    const label = [...button.childNodes];
    button.disabled = true;
    button.textContent = busyLabel;
    try {
        return await action();
    } finally {
        button.disabled = false;
        button.replaceChildren(...label);
    }
}

/** A small coloured label: kind ok | warn | bad | info | muted. */
export function tag(text, kind = 'info', attrs = {}) {
    return el('span', { class: `tag tag--${kind}`, ...attrs, text });
}

/** A value or a dash read out as "not recorded". */
export function orDash(value) {
    if (value === null || value === undefined || value === '') {
        return el('span', {}, el('span', { class: 'muted', 'aria-hidden': 'true', text: '—' }), el('span', { class: 'visually-hidden', text: 'none' }));
    }
    return value instanceof Node ? value : el('span', { class: 'break', text: visibleText(value) });
}

export function timeText(value) {
    return value ? el('span', { class: 'num', text: formatDateTime(String(value)) }) : orDash(null);
}

/**
 * Fills a table body: rows are arrays of cell contents (nodes or text) in column order; labels name the columns (for the
 * narrow layout); the first cell is a row header. `attrs(row index)` gives each row's attributes.
 */
export function fillTable(tbody, labels, rows, { empty = 'Nothing to show.', attrs = () => ({}) } = {}) {
    clear(tbody);
    if (rows.length === 0) {
        tbody.append(el('tr', {}, el('td', { colspan: String(labels.length), class: 'muted', text: empty })));
        return;
    }
    rows.forEach((cells, index) => {
        tbody.append(el('tr', attrs(index),
            ...cells.map((content, i) => el(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row', 'data-label': labels[i] } : { 'data-label': labels[i] },
                content instanceof Node ? content : orDash(content)))));
    });
}

/** A definition list's rows: [term, value (node or text)]. */
export function fillFacts(dl, rows) {
    clear(dl);
    for (const [term, value] of rows) {
        dl.append(el('div', { class: 'provenance__row' }, el('dt', { text: term }), el('dd', {}, value instanceof Node ? value : orDash(value))));
    }
}
