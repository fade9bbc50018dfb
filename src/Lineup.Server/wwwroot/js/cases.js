// The cases pages: the list (GET /api/cases) with, for case managers, the form that opens a case; and one case
// (GET /api/cases/{id}) with its authorisation, assigned users, its searches (GET /api/cases/{id}/searches) and, for
// case managers, assign / unassign / reauthorise / legal hold / close.

import {
    ApiError, assignCase, closeCase, fetchAssignableUsers, fetchCase, fetchCaseSearches, fetchCases, fetchSearchCandidates, holdCase, openCase,
    reauthoriseCase, unassignCase,
} from './api.js';
import { byId, clear, el, focusAndReveal } from './dom.js';
import { endOfDayUtc, formatDate, formatInteger, todayUtc, visibleText } from './format.js';
import { loadIntake, offenceLabel, sourceLabel } from './intake.js';
import { searchReview } from './leads.js';
import { go } from './router.js';
import { can, state } from './state.js';
import { announce } from './status.js';
import { errorText, fillFacts, fillTable, hideProblemIn, setFormError, showProblemIn, tag, timeText, withBusy } from './ui.js';

let listSequence = 0;
let caseSequence = 0;
/** The case shown on the case page (a CaseDto), or null. */
let shown = null;
/** The users a case manager may assign (AssignableUserDto[]), read once per visit of the case page; null until read. */
let assignable = null;
const ASSIGN_HINT = 'Pick from the list: it shows each user\'s roles and whether their clearance is current.';

export function initCases() {
    byId('case-new-form').addEventListener('submit', (event) => {
        event.preventDefault();
        submitNewCase();
    });
    byId('case-assign-form').addEventListener('submit', (event) => {
        event.preventDefault();
        submitAssign();
    });
    byId('case-reauthorise-form').addEventListener('submit', (event) => {
        event.preventDefault();
        submitReauthorise();
    });
    byId('case-hold-form').addEventListener('submit', (event) => {
        event.preventDefault();
        submitHold();
    });
    byId('case-assign-user').addEventListener('input', describeAssignee);
    byId('case-close').addEventListener('click', () => showCloseConfirm(true));
    byId('case-close-cancel').addEventListener('click', () => showCloseConfirm(false));
    byId('case-close-confirm').addEventListener('click', submitClose);
    for (const input of byId('cases-view').querySelectorAll('input, select, textarea')) {
        input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
    }
}

export function resetCases() {
    listSequence += 1;
    caseSequence += 1;
    shown = null;
    assignable = null;
    clear(byId('case-assign-options'));
    byId('case-new-form').reset();
    byId('case-new-error').hidden = true;
    clear(byId('cases-table').tBodies[0]);
    clear(byId('case-searches').tBodies[0]);
    clear(byId('case-search-review'));
    byId('case-search-review').hidden = true;
}

// --- The list ---------------------------------------------------------------------------------------------------------

export async function enterCases() {
    document.title = 'Cases — Lineup';
    const mine = ++listSequence;
    const manage = can('cases.manage');
    byId('case-new-panel').hidden = !manage;
    byId('cases-busy').hidden = false;
    hideProblemIn(byId('cases-problem'));
    byId('cases-heading').focus({ preventScroll: true });
    if (manage) {
        byId('case-new-until').min = todayUtc();
        fillOffences();
    }
    try {
        const cases = await fetchCases();
        if (mine !== listSequence) {
            return;
        }
        renderCaseList(Array.isArray(cases) ? cases : []);
    } catch (error) {
        if (mine === listSequence) {
            showProblemIn(byId('cases-problem'), error, 'The cases could not be listed');
        }
    } finally {
        if (mine === listSequence) {
            byId('cases-busy').hidden = true;
        }
    }
}

async function fillOffences() {
    const select = byId('case-new-offence');
    if (select.options.length > 1) {
        return;
    }
    try {
        const rules = await loadIntake();
        if (select.options.length > 1) {
            return;
        }
        for (const offence of rules.offences) {
            select.add(new Option(offenceLabel(offence), offence));
        }
    } catch (error) {
        setFormError(byId('case-new-error'), `The list of offences could not be read. ${errorText(error)}`);
    }
}

/** The case's state in words and colour: open, open but its authorisation expired, closed; and the legal hold. */
function caseState(c) {
    const tags = [];
    if (c.status === 'closed') {
        tags.push(tag('Closed', 'muted'));
    } else if (c.searchable) {
        tags.push(tag('Open', 'ok'));
    } else {
        tags.push(tag('Authorisation expired', 'bad'));
    }
    if (c.legalHold) {
        tags.push(' ', tag('Legal hold', 'warn'));
    }
    return el('span', { class: 'tag-row' }, ...tags);
}

function renderCaseList(cases) {
    byId('cases-empty').hidden = cases.length > 0;
    byId('cases-empty').textContent = can('cases.manage') ? 'No cases yet: open one with the form.' : 'You are not assigned to any case.';
    const labels = ['Case', 'Offence', 'Status', 'Authorised until', 'Assigned'];
    fillTable(byId('cases-table').tBodies[0], labels, cases.map((c) => [
        el('a', { href: `#/cases/${encodeURIComponent(c.id)}`, 'data-testid': 'case-link', text: visibleText(c.number) }),
        offenceLabel(c.offence),
        caseState(c),
        el('span', { class: 'num', text: formatDate(c.authorisedUntil) ?? '' }),
        Array.isArray(c.assignedUsers) && c.assignedUsers.length ? c.assignedUsers.map(visibleText).join(', ') : null,
    ]), { empty: 'No cases.', attrs: (i) => ({ dataset: { caseId: cases[i].id, caseNumber: cases[i].number } }) });
    announce(`${cases.length === 1 ? 'One case' : `${formatInteger(cases.length)} cases`}.`);
}

async function submitNewCase() {
    const error = byId('case-new-error');
    setFormError(error, null);
    const number = byId('case-new-number');
    const offence = byId('case-new-offence');
    const purpose = byId('case-new-purpose');
    const reference = byId('case-new-reference');
    const until = byId('case-new-until');
    const checks = [
        [number, !number.value.trim(), 'Give the case number.'],
        [offence, !offence.value, 'Choose the offence.'],
        [purpose, !purpose.value.trim(), 'Say why faces are searched in this case.'],
        [reference, !reference.value.trim(), 'Give the authorisation reference.'],
        [until, !endOfDayUtc(until.value), 'Give the date the authorisation expires.'],
        [until, endOfDayUtc(until.value) && until.value < todayUtc(), 'The authorisation must expire in the future.'],
    ];
    for (const [input, failed, message] of checks) {
        if (failed) {
            setFormError(error, message, input);
            return;
        }
    }
    await withBusy(byId('case-new-submit'), 'Opening…', async () => {
        try {
            const opened = await openCase({
                number: number.value.trim(),
                offence: offence.value,
                purpose: purpose.value.trim(),
                authorisationReference: reference.value.trim(),
                authorisedUntil: endOfDayUtc(until.value),
            });
            byId('case-new-form').reset();
            announce(`Case ${opened.number} opened.`);
            go(`#/cases/${encodeURIComponent(opened.id)}`);
        } catch (failure) {
            setFormError(error, errorText(failure));
        }
    });
}

// --- One case ---------------------------------------------------------------------------------------------------------

export async function enterCase({ caseId }) {
    const mine = ++caseSequence;
    const same = shown && String(shown.id) === String(caseId);
    // Clearances and roles change between visits: read the assignable users again.
    assignable = null;
    document.title = `Case — Lineup`;
    if (!same) {
        shown = null;
        byId('case-body').hidden = true;
        byId('case-heading').textContent = 'Case';
        clear(byId('case-search-review'));
        byId('case-search-review').hidden = true;
    }
    byId('case-busy').hidden = false;
    hideProblemIn(byId('case-problem'));
    byId('case-heading').focus({ preventScroll: true });
    try {
        const [found, searches] = await Promise.all([fetchCase(caseId), fetchCaseSearches(caseId)]);
        if (mine !== caseSequence) {
            return;
        }
        renderCase(found);
        renderSearches(Array.isArray(searches) ? searches : []);
        byId('case-body').hidden = false;
    } catch (error) {
        if (mine === caseSequence) {
            byId('case-body').hidden = true;
            showProblemIn(byId('case-problem'), error, 'The case could not be read');
        }
    } finally {
        if (mine === caseSequence) {
            byId('case-busy').hidden = true;
        }
    }
}

function renderCase(c) {
    shown = c;
    const manage = can('cases.manage');
    const open = c.status !== 'closed';
    document.title = `Case ${c.number} — Lineup`;
    byId('case-heading').textContent = `Case ${visibleText(c.number)}`;
    fillFacts(byId('case-facts'), [
        ['Status', caseState(c)],
        ['Offence', offenceLabel(c.offence)],
        ['Purpose', c.purpose],
        ['Authorisation', c.authorisationReference],
        ['Authorised until', timeText(c.authorisedUntil)],
        ['Opened', el('span', {}, timeText(c.createdAt), ` by ${visibleText(c.createdBy ?? '')}`)],
        ['Closed', c.closedAt ? timeText(c.closedAt) : null],
    ]);

    const users = clear(byId('case-users'));
    const assigned = Array.isArray(c.assignedUsers) ? c.assignedUsers : [];
    if (assigned.length === 0) {
        users.append(el('li', { class: 'muted', text: 'Nobody is assigned.' }));
    }
    for (const user of assigned) {
        users.append(el('li', { class: 'plain-list__row', dataset: { user } },
            el('span', { class: 'break', text: visibleText(user) }),
            user === state.me?.name ? el('span', { class: 'muted small', text: ' (you)' }) : null,
            manage && open
                ? el('button', {
                    type: 'button', class: 'button button--quiet button--small',
                    on: { click: (event) => submitUnassign(user, event.currentTarget) },
                }, 'Remove', el('span', { class: 'visually-hidden', text: ` ${visibleText(user)} from the case` }))
                : null));
    }
    byId('case-assign-form').hidden = !(manage && open);
    byId('case-assign-error').hidden = true;
    if (manage && open) {
        fillAssignees(c);
    }
    byId('case-manage-panel').hidden = !(manage && open);
    byId('case-reauthorise-until').min = todayUtc();
    byId('case-hold-label').textContent = c.legalHold ? 'Reason for lifting the legal hold' : 'Reason for the legal hold';
    byId('case-hold-submit').textContent = c.legalHold ? 'Lift the legal hold' : 'Place on legal hold';
    showCloseConfirm(false);
}

const OUTCOMES = {
    candidates: ['Candidates', 'ok'],
    noCandidateAboveThreshold: ['No candidate above the threshold', 'info'],
    refusedLowQuality: ['Refused: quality under the floor', 'warn'],
    noFace: ['No face', 'muted'],
    refusedIntake: ['Refused at intake', 'bad'],
    withheldOptOut: ['Withheld: opted out', 'muted'],
};

function outcomeCell(s) {
    const [text, kind] = OUTCOMES[s.outcome] ?? [String(s.outcome ?? ''), 'info'];
    return el('span', { class: 'tag-row' }, tag(text, kind), s.refusal ? el('code', { class: 'small', text: ` ${visibleText(s.refusal)}` }) : null);
}

function renderSearches(searches) {
    const labels = ['Search', 'When', 'By', 'Probe source', 'Outcome', 'Candidates', 'Gallery version', 'Actions'];
    byId('case-searches-heading').textContent = `Searches (${formatInteger(searches.length)})`;
    fillTable(byId('case-searches').tBodies[0], labels, searches.map((s) => [
        el('span', { class: 'num', text: String(s.id) }),
        timeText(s.at),
        s.by,
        s.probeSource ? sourceLabel(s.probeSource) : null,
        outcomeCell(s),
        el('span', { class: 'num', text: s.candidates ? `${formatInteger(s.candidates)} (${formatInteger(s.aboveThreshold)} above)` : '0' }),
        el('span', { class: 'num', text: String(s.galleryVersion ?? '') }),
        s.candidates
            ? el('button', {
                type: 'button', class: 'button button--small', 'data-testid': 'show-search',
                on: { click: (event) => showSearch(s.id, event.currentTarget) },
            }, 'Candidates', el('span', { class: 'visually-hidden', text: ` of search ${s.id}` }))
            : null,
    ]), { empty: 'No searches yet.', attrs: (i) => ({ dataset: { searchId: searches[i].id, outcome: searches[i].outcome } }) });
}

async function showSearch(searchId, button) {
    const box = byId('case-search-review');
    await withBusy(button, 'Loading…', async () => {
        try {
            const dto = await fetchSearchCandidates(searchId);
            clear(box).append(searchReview(dto));
            box.hidden = false;
            focusAndReveal(box);
        } catch (error) {
            clear(box);
            box.hidden = false;
            box.append(el('div', { class: 'problem' }, el('p', { class: 'problem__title', text: errorText(error) })));
        }
    });
}

async function change(button, busyLabel, action, done) {
    if (!shown) {
        return false;
    }
    return withBusy(button, busyLabel, async () => {
        const updated = await action(shown.id);
        renderCase(updated);
        announce(done(updated));
        return true;
    });
}

async function submitAssign() {
    const input = byId('case-assign-user');
    const error = byId('case-assign-error');
    setFormError(error, null, input);
    const user = input.value.trim();
    if (!user) {
        setFormError(error, 'Give the user name to assign.', input);
        return;
    }
    try {
        await change(byId('case-assign-submit'), 'Assigning…', (id) => assignCase(id, user), (c) => `${user} assigned to case ${c.number}.`);
        input.value = '';
        describeAssignee();
        input.focus();
    } catch (failure) {
        setFormError(error, errorText(failure), input);
    }
}

/** Offers the enabled users not yet assigned to the case, each with roles and clearance (read once per visit). */
async function fillAssignees(c) {
    const mine = caseSequence;
    if (!assignable) {
        try {
            const users = await fetchAssignableUsers();
            if (mine !== caseSequence) {
                return;
            }
            assignable = Array.isArray(users) ? users : [];
        } catch {
            // The form still takes a typed user name; the server checks it.
            return;
        }
    }
    // The case as shown now: an assignment made while the list was read has changed it.
    const current = shown;
    if (!current || current.id !== c.id) {
        return;
    }
    const assigned = new Set((Array.isArray(current.assignedUsers) ? current.assignedUsers : []).map((u) => String(u).toLowerCase()));
    byId('case-assign-options').replaceChildren(...assignable
        .filter((u) => !assigned.has(String(u.name).toLowerCase()))
        .map((u) => el('option', { value: u.name, label: assigneeText(u) })));
    describeAssignee();
}

function assigneeText(u) {
    const roles = Array.isArray(u.roles) && u.roles.length ? u.roles.join(', ') : 'no roles';
    const name = u.displayName ? `${visibleText(u.displayName)} — ` : '';
    return `${name}${roles} · ${clearanceText(u)}`;
}

function clearanceText(u) {
    if (u.cleared) {
        return `clearance current until ${formatDate(earliest(u.ndaUntil, u.trainingUntil))}`;
    }
    return !u.ndaUntil || !u.trainingUntil ? 'clearance not on record' : 'clearance expired';
}

function earliest(a, b) {
    return new Date(a) <= new Date(b) ? a : b;
}

/** Says under the field whom the typed name is: roles and clearance, so an uncleared user is not assigned by mistake. */
function describeAssignee() {
    const hint = byId('case-assign-hint');
    const typed = byId('case-assign-user').value.trim().toLowerCase();
    const match = typed && assignable ? assignable.find((u) => String(u.name).toLowerCase() === typed) : null;
    hint.textContent = match ? `${visibleText(match.name)}: ${assigneeText(match)}` : ASSIGN_HINT;
    hint.dataset.cleared = match ? String(Boolean(match.cleared)) : '';
}

async function submitUnassign(user, button) {
    try {
        await change(button, 'Removing…', (id) => unassignCase(id, user), (c) => `${user} removed from case ${c.number}.`);
        byId('case-assign-user').focus();
    } catch (failure) {
        setFormError(byId('case-assign-error'), errorText(failure));
    }
}

async function submitReauthorise() {
    const error = byId('case-reauthorise-error');
    const reference = byId('case-reauthorise-reference');
    const until = byId('case-reauthorise-until');
    setFormError(error, null);
    if (!reference.value.trim()) {
        setFormError(error, 'Give the reference of the renewed authorisation.', reference);
        return;
    }
    if (!endOfDayUtc(until.value) || until.value < todayUtc()) {
        setFormError(error, 'Give a date in the future for the authorisation to expire.', until);
        return;
    }
    try {
        await change(byId('case-reauthorise-submit'), 'Recording…', (id) => reauthoriseCase(id, reference.value.trim(), endOfDayUtc(until.value)),
            (c) => `Authorisation of case ${c.number} recorded until ${formatDate(c.authorisedUntil)}.`);
        byId('case-reauthorise-form').reset();
    } catch (failure) {
        setFormError(error, errorText(failure));
    }
}

async function submitHold() {
    const error = byId('case-hold-error');
    const reason = byId('case-hold-reason');
    setFormError(error, null);
    if (!reason.value.trim()) {
        setFormError(error, 'Give the reason: it is recorded in the audit log.', reason);
        return;
    }
    const hold = !shown?.legalHold;
    try {
        await change(byId('case-hold-submit'), hold ? 'Placing…' : 'Lifting…', (id) => holdCase(id, hold, reason.value.trim()),
            (c) => (c.legalHold ? `Case ${c.number} is on legal hold.` : `The legal hold of case ${c.number} is lifted.`));
        reason.value = '';
    } catch (failure) {
        setFormError(error, errorText(failure));
    }
}

function showCloseConfirm(asking) {
    byId('case-close').hidden = asking;
    byId('case-close-confirm').hidden = !asking;
    byId('case-close-cancel').hidden = !asking;
    if (asking) {
        byId('case-close-confirm').focus();
    }
}

async function submitClose() {
    try {
        await change(byId('case-close-confirm'), 'Closing…', (id) => closeCase(id), (c) => `Case ${c.number} is closed.`);
        byId('case-heading').focus();
    } catch (failure) {
        if (!(failure instanceof ApiError) || failure.status !== 401) {
            showProblemIn(byId('case-problem'), failure, 'The case could not be closed');
        }
    }
}
