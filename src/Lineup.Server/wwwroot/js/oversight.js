// The oversight page: the audit log's verification status (GET /api/audit/status: intact or not, events, checkpoints,
// the latest checkpoint, events not yet anchored by one, the problems found) and the supervisor view of activity (GET
// /api/oversight/activity: searches per user, case and day by outcome, and the flags to follow up).

import { fetchActivity, fetchAuditStatus } from './api.js';
import { byId, clear, el } from './dom.js';
import { formatDate, formatDateTime, formatInteger, visibleText } from './format.js';
import { announce } from './status.js';
import { fillFacts, fillTable, hideProblemIn, showProblemIn, tag, timeText, withBusy } from './ui.js';

let built = false;
let sequence = 0;
const nodes = {};

/** The outcome columns of the activity tables, in the order shown. */
const OUTCOMES = [
    ['candidates', 'Candidates'],
    ['no_candidate_above_threshold', 'None above threshold'],
    ['refused_intake', 'Refused at intake'],
    ['refused_low_quality', 'Refused: quality'],
    ['no_face', 'No face'],
    ['withheld_opt_out', 'Withheld: opt-out'],
];

const FLAGS = {
    volume_spike: 'Volume spike',
    unrelated_probes: 'Unrelated probes in one case',
    after_authorisation_expired: 'Attempts after the authorisation expired',
    outside_working_hours: 'Outside working hours',
};

export function initOversight() {}

export function resetOversight() {
    sequence += 1;
    if (built) {
        clear(byId('oversight-body'));
        built = false;
    }
}

function build() {
    const body = clear(byId('oversight-body'));
    nodes.auditProblem = el('div', { class: 'problem', tabindex: '-1', hidden: true });
    nodes.auditVerdict = el('p', { class: 'verdict-line', 'data-testid': 'audit-status', 'aria-live': 'polite' });
    nodes.auditFacts = el('dl', { class: 'provenance' });
    nodes.auditProblems = el('ol', { class: 'plain-list small', hidden: true });
    nodes.auditRefresh = el('button', { type: 'button', class: 'button', on: { click: () => withBusy(nodes.auditRefresh, 'Verifying…', loadAudit) } }, 'Verify again');
    body.append(el('section', { class: 'panel', 'aria-labelledby': 'audit-heading' },
        el('h2', { id: 'audit-heading', text: 'Audit log' }),
        el('p', { class: 'muted small', text: 'Every event hash, checkpoint signature and consistency proof recomputed from the log. The answer is reused for up to a minute.' }),
        nodes.auditProblem,
        nodes.auditVerdict,
        nodes.auditFacts,
        nodes.auditProblems,
        el('div', { class: 'button-row' }, nodes.auditRefresh)));

    nodes.from = el('input', { type: 'date', id: 'activity-from', name: 'from' });
    nodes.to = el('input', { type: 'date', id: 'activity-to', name: 'to' });
    nodes.activitySubmit = el('button', { type: 'submit', class: 'button button--primary' }, 'Show');
    nodes.activityError = el('p', { class: 'form-error', id: 'activity-error', hidden: true });
    const form = el('form', { class: 'form form--inline', novalidate: true, on: { submit: (event) => {
        event.preventDefault();
        withBusy(nodes.activitySubmit, 'Loading…', loadActivity);
    } } },
    el('div', { class: 'field' }, el('label', { for: 'activity-from', text: 'From' }), nodes.from),
    el('div', { class: 'field' }, el('label', { for: 'activity-to', text: 'To (inclusive)' }), nodes.to),
    nodes.activitySubmit);
    nodes.activityProblem = el('div', { class: 'problem', tabindex: '-1', hidden: true });
    nodes.activitySummary = el('p', { class: 'muted' });
    nodes.flags = el('ul', { class: 'flag-list', 'data-testid': 'activity-flags' });
    nodes.users = table('activity-users', 'User');
    nodes.cases = table('activity-cases', 'Case');
    nodes.days = table('activity-days', 'Day');
    body.append(el('section', { class: 'panel page-grid__wide', 'aria-labelledby': 'activity-heading' },
        el('h2', { id: 'activity-heading', text: 'Activity' }),
        el('p', { class: 'muted small', text: 'Every recorded search counts, refused ones included: an attempt is activity too. Without dates: the last 30 days.' }),
        form,
        nodes.activityError,
        nodes.activityProblem,
        nodes.activitySummary,
        el('h3', { class: 'section-title', text: 'Flags' }),
        nodes.flags,
        el('h3', { class: 'section-title', text: 'Per user' }), scroll(nodes.users.table),
        el('h3', { class: 'section-title', text: 'Per case' }), scroll(nodes.cases.table),
        el('h3', { class: 'section-title', text: 'Per day' }), scroll(nodes.days.table)));
    built = true;
}

function scroll(node) {
    return el('div', { class: 'table-scroll' }, node);
}

function table(testId, first) {
    const labels = [first, 'Searches', ...OUTCOMES.map(([, label]) => label)];
    const tbody = el('tbody');
    const node = el('table', { class: 'data-table', 'data-testid': testId },
        el('thead', {}, el('tr', {}, ...labels.map((label) => el('th', { scope: 'col', text: label })))),
        tbody);
    return { table: node, tbody, labels };
}

export async function enterOversight() {
    document.title = 'Oversight — Lineup';
    if (!built) {
        build();
    }
    byId('oversight-heading').focus({ preventScroll: true });
    const mine = ++sequence;
    await Promise.all([loadAudit(mine), loadActivity(mine)]);
}

async function loadAudit(mine = sequence) {
    hideProblemIn(nodes.auditProblem);
    nodes.auditVerdict.textContent = 'Verifying the audit log…';
    nodes.auditVerdict.className = 'verdict-line';
    try {
        const status = await fetchAuditStatus();
        if (mine === sequence) {
            renderAudit(status);
        }
    } catch (error) {
        if (mine === sequence) {
            nodes.auditVerdict.textContent = '';
            showProblemIn(nodes.auditProblem, error, 'The audit status could not be read');
        }
    }
}

function renderAudit(s) {
    const intact = s.intact === true;
    clear(nodes.auditVerdict).append(
        el('span', { class: 'verdict-line__mark', 'aria-hidden': 'true', text: intact ? '✓' : '✗' }),
        el('strong', { 'data-testid': 'audit-intact', 'data-intact': String(intact), text: intact ? 'Intact' : 'NOT intact' }),
        ' ',
        el('span', { text: intact
            ? `— all ${formatInteger(s.events)} events and ${formatInteger(s.checkpoints)} checkpoints verify.`
            : `— ${formatInteger(s.problemCount)} problem${s.problemCount === 1 ? '' : 's'} found${s.firstBadSeq !== null && s.firstBadSeq !== undefined ? `, first at event ${s.firstBadSeq}` : ''}.` }));
    nodes.auditVerdict.className = `verdict-line ${intact ? 'verdict-line--ok' : 'verdict-line--bad'}`;
    const latest = s.latestCheckpoint;
    fillFacts(nodes.auditFacts, [
        ['Events', el('span', { class: 'num', text: formatInteger(s.events) })],
        ['Head root', s.headRoot ? el('code', { class: 'break', text: s.headRoot }) : null],
        ['Checkpoints', el('span', { class: 'num', text: formatInteger(s.checkpoints) })],
        ['Last checkpoint', latest
            ? el('span', {}, `tree size ${formatInteger(latest.treeSize)}, signed ${formatDateTime(latest.timestamp)}`,
                el('br'), el('code', { class: 'break small', text: `root ${latest.rootHash}` }),
                el('br'), el('code', { class: 'break small', text: `key ${latest.keyId}` }))
            : el('span', { class: 'muted', text: 'none yet' })],
        ['Unanchored events', el('span', {},
            el('span', { class: 'num', 'data-testid': 'audit-unanchored', text: formatInteger(s.unanchoredEvents) }),
            el('span', { class: 'muted small', text: ' (after the last checkpoint: protected by their own hashes until the next one)' }))],
        ['Signing key', s.keyPresent
            ? 'present in the data directory'
            : s.checkpoints > 0
                ? tag('missing: the checkpoints’ signatures cannot be checked', 'bad')
                : el('span', { class: 'muted', text: 'not created yet (it comes with the first checkpoint)' })],
        ['First bad checkpoint', s.firstBadCheckpoint ?? null],
        ['Verified', timeText(s.computedAt)],
    ]);
    const problems = Array.isArray(s.problems) ? s.problems : [];
    clear(nodes.auditProblems).append(...problems.map((p) => el('li', {},
        el('code', { text: visibleText(p.kind ?? '') }),
        p.seq !== null && p.seq !== undefined ? ` event ${p.seq}` : '',
        p.checkpointSize !== null && p.checkpointSize !== undefined ? ` checkpoint ${p.checkpointSize}` : '',
        `: ${visibleText(p.message ?? '')}`)));
    nodes.auditProblems.hidden = problems.length === 0;
    announce(intact ? 'The audit log is intact.' : 'The audit log is NOT intact.');
}

function activityRange() {
    const from = nodes.from.value;
    const to = nodes.to.value;
    if (from && to && from > to) {
        throw new Error('“To” is before “From”.');
    }
    let end = null;
    if (to) {
        const next = new Date(`${to}T00:00:00Z`);
        next.setUTCDate(next.getUTCDate() + 1);
        end = next.toISOString();
    }
    return [from ? `${from}T00:00:00Z` : null, end];
}

async function loadActivity(mine = sequence) {
    hideProblemIn(nodes.activityProblem);
    nodes.activityError.hidden = true;
    let range;
    try {
        range = activityRange();
    } catch (error) {
        nodes.activityError.textContent = error.message;
        nodes.activityError.hidden = false;
        nodes.to.focus();
        return;
    }
    try {
        const activity = await fetchActivity(range[0], range[1]);
        if (mine === sequence) {
            renderActivity(activity);
        }
    } catch (error) {
        if (mine === sequence) {
            showProblemIn(nodes.activityProblem, error, 'The activity could not be read');
        }
    }
}

function outcomeCells(outcomes) {
    return OUTCOMES.map(([key]) => {
        const count = outcomes?.[key] ?? 0;
        return el('span', { class: `num${count ? '' : ' muted'}`, text: formatInteger(count) });
    });
}

function renderActivity(a) {
    nodes.activitySummary.textContent = `${formatInteger(a.searches)} searches from ${formatDateTime(a.from)} to ${formatDateTime(a.to)}`
        + ` (days and working hours ${a.workdayStartHour}:00–${a.workdayEndHour}:00 in ${visibleText(a.timeZone ?? 'UTC')}).`;
    if (!nodes.from.value && a.from) {
        nodes.from.value = formatDate(a.from);
    }
    const flags = Array.isArray(a.flags) ? a.flags : [];
    clear(nodes.flags);
    if (flags.length === 0) {
        nodes.flags.append(el('li', { class: 'muted', text: 'No flags in this period.' }));
    }
    for (const f of flags) {
        const about = [
            f.user ? `user ${visibleText(f.user)}` : null,
            f.caseNumber ? `case ${visibleText(f.caseNumber)}` : null,
            f.day ? `on ${f.day}` : null,
        ].filter(Boolean).join(', ');
        const ids = Array.isArray(f.searchIds) ? f.searchIds : [];
        nodes.flags.append(el('li', { class: 'flag', dataset: { kind: f.kind } },
            tag(FLAGS[f.kind] ?? String(f.kind), 'warn'), ' ',
            about ? el('strong', { text: about }) : null,
            el('p', { class: 'flag__reason', text: visibleText(f.reason ?? '') }),
            ids.length ? el('p', { class: 'muted small', text: `Searches ${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ` and ${ids.length - 20} more` : ''}.` }) : null));
    }
    const users = Array.isArray(a.users) ? a.users : [];
    fillTable(nodes.users.tbody, nodes.users.labels, users.map((u) => [visibleText(u.user), el('span', { class: 'num', text: formatInteger(u.searches) }), ...outcomeCells(u.outcomes)]),
        { empty: 'No searches.' });
    const cases = Array.isArray(a.cases) ? a.cases : [];
    fillTable(nodes.cases.tbody, nodes.cases.labels, cases.map((c) => [
        c.caseId !== null && c.caseId !== undefined
            ? el('a', { href: `#/cases/${encodeURIComponent(c.caseId)}`, text: visibleText(c.caseNumber ?? `case ${c.caseId}`) })
            : el('span', { class: 'muted', text: c.caseNumber ? `${visibleText(c.caseNumber)} (no such case)` : 'no case given' }),
        el('span', { class: 'num', text: formatInteger(c.searches) }), ...outcomeCells(c.outcomes)]), { empty: 'No searches.' });
    const days = Array.isArray(a.days) ? a.days : [];
    fillTable(nodes.days.tbody, nodes.days.labels, days.map((d) => [el('span', { class: 'num', text: String(d.day) }),
        el('span', { class: 'num', text: formatInteger(d.searches) }), ...outcomeCells(d.outcomes)]), { empty: 'No searches.' });
}
