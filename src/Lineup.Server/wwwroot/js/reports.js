// The disclosure reports page: pick a case (GET /api/cases) and download its report as JSON or PDF (GET
// /api/cases/{id}/report.json|pdf). Each download is built afresh and its SHA-256 written into the audit log by the server.

import { fetchCases, reportUrl } from './api.js';
import { byId, clear, el } from './dom.js';
import { formatDate, visibleText } from './format.js';
import { offenceLabel } from './intake.js';
import { announce } from './status.js';
import { hideProblemIn, showProblemIn } from './ui.js';

let built = false;
let sequence = 0;
let cases = [];
const nodes = {};

export function initReports() {}

export function resetReports() {
    sequence += 1;
    cases = [];
    if (built) {
        clear(byId('reports-body'));
        built = false;
    }
}

function build() {
    nodes.problem = el('div', { class: 'problem', tabindex: '-1', hidden: true });
    nodes.select = el('select', { id: 'report-case', 'data-testid': 'report-case', on: { change: renderLinks } },
        el('option', { value: '', text: 'Choose a case…' }));
    nodes.links = el('div', { class: 'report-links', 'data-testid': 'report-links', hidden: true });
    nodes.facts = el('p', { class: 'muted small' });
    clear(byId('reports-body')).append(el('section', { class: 'panel', 'aria-labelledby': 'report-pick-heading' },
        el('h2', { id: 'report-pick-heading', text: 'Report of a case' }),
        nodes.problem,
        el('div', { class: 'form' },
            el('div', { class: 'field' }, el('label', { for: 'report-case', text: 'Case' }), nodes.select),
            nodes.facts,
            nodes.links),
        el('p', { class: 'muted small', text: 'Every download builds the report anew from the catalog and records its SHA-256 in the audit log, so a disclosed copy can be matched to its record.' })));
    built = true;
}

export async function enterReports() {
    document.title = 'Reports — Lineup';
    if (!built) {
        build();
    }
    byId('reports-heading').focus({ preventScroll: true });
    const mine = ++sequence;
    hideProblemIn(nodes.problem);
    try {
        const list = await fetchCases();
        if (mine !== sequence) {
            return;
        }
        cases = Array.isArray(list) ? list : [];
        const chosen = nodes.select.value;
        while (nodes.select.options.length > 1) {
            nodes.select.remove(1);
        }
        for (const c of cases) {
            nodes.select.add(new Option(visibleText(`${c.number} — ${offenceLabel(c.offence)}${c.status === 'closed' ? ' (closed)' : ''}`), String(c.id)));
        }
        nodes.select.value = cases.some((c) => String(c.id) === chosen) ? chosen : '';
        renderLinks();
        announce(cases.length ? `${cases.length === 1 ? 'One case' : `${cases.length} cases`} to report on.` : 'There are no cases to report on.');
    } catch (error) {
        if (mine === sequence) {
            showProblemIn(nodes.problem, error, 'The cases could not be listed');
        }
    }
}

function renderLinks() {
    const found = cases.find((c) => String(c.id) === nodes.select.value);
    clear(nodes.links);
    nodes.links.hidden = !found;
    nodes.facts.textContent = found
        ? `Opened ${formatDate(found.createdAt) ?? ''} by ${visibleText(found.createdBy ?? '')}; authorisation ${visibleText(found.authorisationReference ?? '')} until ${formatDate(found.authorisedUntil) ?? ''}; ${found.status === 'closed' ? 'closed' : 'open'}${found.legalHold ? ', on legal hold' : ''}.`
        : '';
    if (!found) {
        return;
    }
    const number = visibleText(found.number);
    nodes.links.append(
        el('a', { class: 'button button--primary', href: reportUrl(found.id, 'pdf'), download: '', 'data-testid': 'report-pdf' },
            'Download PDF', el('span', { class: 'visually-hidden', text: ` report of case ${number}` })),
        el('a', { class: 'button', href: reportUrl(found.id, 'json'), download: '', 'data-testid': 'report-json' },
            'Download JSON', el('span', { class: 'visually-hidden', text: ` report of case ${number}` })));
}
