// The retention page: each data class with its time-to-live in days, editable (GET /api/retention, PUT
// /api/retention/{class}); the cases on legal hold; and "sweep now" (POST /api/retention/sweep) with its report.

import { fetchRetention, setRetention, sweepRetention } from './api.js';
import { byId, clear, el, focusAndReveal } from './dom.js';
import { formatDateTime, formatFixed, formatInteger, visibleText } from './format.js';
import { announce } from './status.js';
import { errorText, fillFacts, fillTable, hideProblemIn, showProblemIn, tag, timeText, withBusy } from './ui.js';

let built = false;
let sequence = 0;
const nodes = {};

const CLASS_LABELS = {
    probe_images: 'Probe photos',
    candidate_lists: 'Candidate lists',
    audit_events: 'Audit events',
};

export function initRetention() {}

export function resetRetention() {
    sequence += 1;
    if (built) {
        clear(byId('retention-body'));
        built = false;
    }
}

function build() {
    nodes.problem = el('div', { class: 'problem', tabindex: '-1', hidden: true });
    nodes.tbody = el('tbody');
    nodes.labels = ['Data class', 'Kept for', 'Last changed'];
    nodes.held = el('p', { class: 'small' });
    nodes.interval = el('p', { class: 'muted small' });
    nodes.sweep = el('button', { type: 'button', class: 'button button--warning', 'data-testid': 'retention-sweep', on: { click: sweep } }, 'Sweep now');
    nodes.report = el('div', { class: 'sweep-report', 'data-testid': 'sweep-report', tabindex: '-1', hidden: true });
    nodes.sweepError = el('p', { class: 'form-error', hidden: true });
    clear(byId('retention-body')).append(
        el('section', { class: 'panel page-grid__wide', 'aria-labelledby': 'retention-classes-heading' },
            el('h2', { id: 'retention-classes-heading', text: 'Time to live' }),
            nodes.problem,
            el('div', { class: 'table-scroll' }, el('table', { class: 'data-table', 'data-testid': 'retention-table' },
                el('thead', {}, el('tr', {}, ...nodes.labels.map((text) => el('th', { scope: 'col', text })))),
                nodes.tbody)),
            el('p', { class: 'muted small', text: 'Audit events must be kept at least as long as candidate lists, so that every kept search is still on the record.' })),
        el('section', { class: 'panel', 'aria-labelledby': 'retention-sweep-heading' },
            el('h2', { id: 'retention-sweep-heading', text: 'Sweep' }),
            el('p', { class: 'muted small', text: 'Removes everything past its time to live now (cases on legal hold excepted) and compacts the files; the receipt goes into the audit log.' }),
            nodes.interval,
            nodes.held,
            el('div', { class: 'button-row' }, nodes.sweep),
            nodes.sweepError,
            nodes.report));
    built = true;
}

export async function enterRetention() {
    document.title = 'Retention — Lineup';
    if (!built) {
        build();
    }
    byId('retention-heading').focus({ preventScroll: true });
    const mine = ++sequence;
    hideProblemIn(nodes.problem);
    try {
        const retention = await fetchRetention();
        if (mine === sequence) {
            render(retention ?? {});
        }
    } catch (error) {
        if (mine === sequence) {
            showProblemIn(nodes.problem, error, 'The retention settings could not be read');
        }
    }
}

function render(r) {
    const settings = Array.isArray(r.settings) ? r.settings : [];
    fillTable(nodes.tbody, nodes.labels, settings.map(settingRow), {
        empty: 'No data classes.',
        attrs: (i) => ({ dataset: { dataClass: settings[i].dataClass } }),
    });
    const held = Array.isArray(r.casesOnHold) ? r.casesOnHold : [];
    nodes.held.textContent = held.length
        ? `Kept past their time to live (legal hold): ${held.map(visibleText).join(', ')}.`
        : 'No case is on legal hold.';
    nodes.interval.textContent = Number.isFinite(r.sweepHours)
        ? `The server also sweeps by itself every ${formatFixed(r.sweepHours, r.sweepHours < 10 ? 1 : 0)} hours.`
        : 'The server’s background sweep is off: only sweeps started here (or from the command line) remove expired data.';
}

function settingRow(s) {
    const inputId = `ttl-${s.dataClass}`;
    const errorId = `${inputId}-error`;
    const input = el('input', {
        type: 'number', id: inputId, min: 1, max: 36500, step: 1, inputmode: 'numeric', value: s.ttlDays, required: true,
        class: 'input--short', 'data-testid': 'retention-ttl', 'aria-describedby': errorId,
    });
    const error = el('span', { class: 'field__error', id: errorId, hidden: true });
    const save = el('button', { type: 'submit', class: 'button button--small' }, 'Save',
        el('span', { class: 'visually-hidden', text: ` the time to live of ${label(s.dataClass)}` }));
    const setCell = el('span', {}, s.isDefault ? tag('default', 'muted') : [timeText(s.setAt), ` by ${visibleText(s.setBy ?? '')}`]);
    const form = el('form', { class: 'ttl-form', novalidate: true, on: { submit: async (event) => {
        event.preventDefault();
        const days = Number(input.value);
        error.hidden = true;
        input.removeAttribute('aria-invalid');
        if (!Number.isInteger(days) || days < 1 || days > 36500) {
            error.textContent = 'A whole number of days from 1 to 36,500.';
            error.hidden = false;
            input.setAttribute('aria-invalid', 'true');
            input.focus();
            return;
        }
        await withBusy(save, 'Saving…', async () => {
            try {
                const updated = await setRetention(s.dataClass, days);
                input.value = String(updated.ttlDays);
                clear(setCell).append(timeText(updated.setAt), ` by ${visibleText(updated.setBy ?? '')}`);
                announce(`${label(s.dataClass)} are now kept for ${formatInteger(updated.ttlDays)} days.`);
            } catch (failure) {
                error.textContent = errorText(failure);
                error.hidden = false;
                input.setAttribute('aria-invalid', 'true');
                input.focus();
            }
        });
    } } },
    el('label', { class: 'visually-hidden', for: inputId, text: `Days to keep ${label(s.dataClass)}` }),
    input, el('span', { 'aria-hidden': 'true', text: ' days ' }), save, error);
    return [
        el('span', {}, el('strong', { text: label(s.dataClass) }), el('br'), el('span', { class: 'muted small', text: visibleText(s.description ?? '') })),
        form,
        setCell,
    ];
}

function label(dataClass) {
    return CLASS_LABELS[dataClass] ?? String(dataClass).replace(/_/g, ' ');
}

async function sweep() {
    nodes.sweepError.hidden = true;
    await withBusy(nodes.sweep, 'Sweeping…', async () => {
        try {
            const report = await sweepRetention();
            renderReport(report);
            announce(`Sweep done: ${formatInteger(report.probesDeleted)} probe photos and ${formatInteger(report.candidateListsDeleted)} candidate lists removed.`);
        } catch (failure) {
            nodes.sweepError.textContent = errorText(failure);
            nodes.sweepError.hidden = false;
        }
    });
}

function renderReport(r) {
    const dl = el('dl', { class: 'provenance' });
    const n = (value) => el('span', { class: 'num', text: formatInteger(value ?? 0) });
    fillFacts(dl, [
        ['Swept', timeText(r.at)],
        ['Probe photos removed', el('span', {}, n(r.probesDeleted), ` (taken before ${formatDateTime(r.probeImagesBefore)}); `, n(r.probesHeld), ' kept on hold')],
        ['Candidate lists removed', el('span', {}, n(r.candidateListsDeleted), ` (before ${formatDateTime(r.candidateListsBefore)}): `, n(r.candidatesDeleted), ' candidates, ', n(r.decisionsDeleted), ' decisions; ', n(r.candidateListsHeld), ' kept on hold')],
        ['Cases on hold', n(r.heldCases)],
        ['Audit events pruned', el('span', {}, n(r.auditEventsPruned), ` (before ${formatDateTime(r.auditEventsBefore)}${r.prunedThrough ? `, through event ${r.prunedThrough}` : ''}); their hashes stay in the tree`)],
        ['Receipt', el('span', {}, 'audit event ', n(r.auditSeq))],
        ['Took', el('span', { class: 'num', text: `${formatFixed(r.elapsedMs, 0)} ms` })],
    ]);
    clear(nodes.report).append(el('h3', { text: 'Sweep report' }), dl);
    nodes.report.hidden = false;
    focusAndReveal(nodes.report);
}
