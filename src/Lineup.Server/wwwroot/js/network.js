// The network page: the case the questions are asked in (the user's open, authorised cases, as for a search), where the
// clustering stands (GET /api/network/status) and the gallery's identities (GET /api/network/identities), each opening
// its identity page. The whole graph downloads as GraphML or GEXF for Gephi.

import { apiPath, fetchCases, fetchIdentities, fetchNetworkStatus, networkExportUrl } from './api.js';
import { byId, clear, el } from './dom.js';
import { formatDateTime, formatInteger, plural, visibleText } from './format.js';
import { refusalHelp } from './intake.js';
import { state } from './state.js';
import { announce } from './status.js';
import { hideProblemIn, showProblemIn, tag, withBusy } from './ui.js';

/** Identities listed per page (the server allows up to 1,000). */
const PAGE = 48;

let built = false;
let sequence = 0;
/** Bumped by every read of the list: only the latest answer is shown (a case changed while a page was loading). */
let listSequence = 0;
const nodes = {};
/** The case chosen last on the network page (kept while signed in, so that coming back needs no new choice). */
let chosenCase = '';
/** The cases offered on the page (read on every visit). */
let offered = [];
/** The identities shown and whether more may follow. */
let listed = { caseNumber: '', minFaces: 2, identities: [], more: false };

export function initNetwork() {}

export function resetNetwork() {
    sequence += 1;
    listSequence += 1;
    chosenCase = '';
    offered = [];
    listed = { caseNumber: '', minFaces: 2, identities: [], more: false };
    if (built) {
        clear(byId('network-body'));
        built = false;
    }
}

/** The case the network questions were last asked in ('' when none). */
export function networkCase() {
    return chosenCase;
}

export function rememberNetworkCase(caseNumber) {
    if (caseNumber) {
        chosenCase = caseNumber;
    }
}

/**
 * The cases the signed-in user may ask network questions in: open, with a current authorisation, and assigned to them
 * (a supervisor reads every case but, like an analyst, asks only in their own).
 */
export async function loadNetworkCases(signal) {
    const cases = await fetchCases(signal);
    const me = String(state.me?.name ?? '').toLowerCase();
    return (Array.isArray(cases) ? cases : []).filter((c) => c.searchable
        && (!Array.isArray(c.assignedUsers) || c.assignedUsers.some((user) => String(user).toLowerCase() === me)));
}

/** The href of an identity's page in a case. */
export function identityHref(identityId, caseNumber) {
    const query = caseNumber ? `?case=${encodeURIComponent(caseNumber)}` : '';
    return `#/identities/${encodeURIComponent(identityId)}${query}`;
}

/** Shows a failed network request in a problem box; a refusal gets its help line (what the user can do about it). */
export function showNetworkProblem(box, error, fallbackTitle) {
    showProblemIn(box, error, fallbackTitle);
    const help = refusalHelp(error?.problem?.refusal);
    if (help) {
        box.append(el('p', { class: 'problem__detail', text: help }));
    }
    box.dataset.status = String(error?.status ?? '');
}

/** The clustering state in one line (no person data, no case needed). */
export function statusText(status) {
    if (!status || !status.clusteredAt) {
        return 'The gallery has not been grouped into identities yet: an administrator runs the clustering (lineup network cluster).';
    }
    return `${plural(status.faces ?? 0, 'face', 'faces')} grouped into ${plural(status.identities ?? 0, 'identity', 'identities')}, `
        + `last clustered ${formatDateTime(String(status.clusteredAt))} (version ${formatInteger(status.version ?? 0)}). `
        + 'Faces added since appear after the next clustering.';
}

/** A small card for an identity: cover face, label, counts; the whole card opens the identity. */
export function identityCard(identity, caseNumber, { testId = 'identity-card' } = {}) {
    const href = identityHref(identity.id, caseNumber);
    const cover = identity.coverFaceId !== null && identity.coverFaceId !== undefined
        ? apiPath(identity.coverUrl, `/api/faces/${encodeURIComponent(identity.coverFaceId)}/thumbnail`)
        : null;
    return el('li', { class: 'identity-card', 'data-testid': testId, dataset: { identityId: identity.id } },
        cover
            ? el('img', { class: 'identity-card__thumb', src: cover, alt: '', width: 64, height: 64, loading: 'lazy', decoding: 'async' })
            : el('span', { class: 'identity-card__thumb identity-card__thumb--none', 'aria-hidden': 'true' }),
        el('span', { class: 'identity-card__body' },
            el('a', { class: 'identity-card__link', href, 'data-testid': 'identity-link' }, visibleText(identity.label ?? `identity ${identity.id}`)),
            el('span', { class: 'identity-card__counts muted small' },
                `${plural(identity.faces ?? 0, 'face', 'faces')} in ${plural(identity.images ?? 0, 'image', 'images')}`),
            identity.locked ? tag('Corrected', 'info', { title: 'An analyst fixed some of its faces: re-clustering keeps them' }) : null));
}

function build() {
    const body = clear(byId('network-body'));
    nodes.caseSelect = el('select', { id: 'network-case', name: 'case', 'data-testid': 'network-case', 'aria-describedby': 'network-case-hint' },
        el('option', { value: '', text: 'Choose a case…' }));
    nodes.caseHint = el('span', { class: 'field__hint', id: 'network-case-hint', text: 'Only your open cases with a current authorisation are offered.' });
    nodes.caseNone = el('p', { class: 'notice notice--error', hidden: true, 'data-testid': 'network-no-case',
        text: 'You are not assigned to an open, authorised case. A supervisor must assign you to one before you ask network questions.' });
    nodes.caseBusy = el('p', { class: 'busy-line', hidden: true }, el('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Loading your cases…');
    nodes.status = el('p', { class: 'muted small', 'data-testid': 'cluster-status', 'aria-live': 'polite' });
    nodes.caseProblem = el('div', { class: 'problem', tabindex: '-1', hidden: true });
    nodes.caseSelect.addEventListener('change', () => {
        chosenCase = nodes.caseSelect.value;
        // The address keeps the case (a reload or a shared link asks in the same one) without entering the page again.
        history.replaceState(null, '', chosenCase ? `#/network?case=${encodeURIComponent(chosenCase)}` : '#/network');
        showChosenCase();
        if (chosenCase) {
            loadIdentities({ reset: true });
        }
    });
    body.append(el('section', { class: 'panel', 'aria-labelledby': 'network-case-heading' },
        el('h2', { id: 'network-case-heading', text: 'Case' }),
        el('p', { class: 'muted small', text: 'Network questions are asked in a case you are assigned to; each is recorded with the case and your name.' }),
        nodes.caseBusy,
        nodes.caseNone,
        nodes.caseProblem,
        el('div', { class: 'field' }, el('label', { for: 'network-case', text: 'Case' }), nodes.caseSelect, nodes.caseHint)));

    nodes.exportGraphMl = el('a', { class: 'button button--small', 'data-testid': 'network-export-graphml', download: 'lineup-network.graphml' }, 'GraphML');
    nodes.exportGexf = el('a', { class: 'button button--small', 'data-testid': 'network-export-gexf', download: 'lineup-network.gexf' }, 'GEXF');
    nodes.exportRow = el('div', { class: 'button-row', hidden: true }, nodes.exportGraphMl, nodes.exportGexf);
    body.append(el('section', { class: 'panel', 'aria-labelledby': 'network-status-heading' },
        el('h2', { id: 'network-status-heading', text: 'Identities' }),
        nodes.status,
        el('p', { class: 'muted small', text: 'An identity is a group of faces the clustering found alike: a lead, not an identification. Check its faces before relying on it.' }),
        el('p', { class: 'muted small', id: 'network-export-label', text: 'The whole co-appearance graph of the case, for Gephi:' }),
        nodes.exportRow));

    nodes.minFaces = el('select', { id: 'network-min-faces', name: 'minFaces', 'data-testid': 'network-min-faces' },
        ...[1, 2, 3, 5, 10].map((n) => el('option', { value: String(n), text: n === 1 ? 'every identity' : `at least ${n} faces` })));
    nodes.minFaces.value = String(listed.minFaces);
    nodes.minFaces.addEventListener('change', () => loadIdentities({ reset: true }));
    nodes.listProblem = el('div', { class: 'problem', tabindex: '-1', hidden: true });
    nodes.listBusy = el('p', { class: 'busy-line', hidden: true }, el('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Loading identities…');
    nodes.listEmpty = el('p', { class: 'muted', hidden: true });
    nodes.list = el('ol', { class: 'identity-grid', 'data-testid': 'identity-list', 'aria-labelledby': 'network-list-heading' });
    nodes.more = el('button', { type: 'button', class: 'button', hidden: true, 'data-testid': 'identity-more' }, 'Show more identities');
    nodes.more.addEventListener('click', () => withBusy(nodes.more, 'Loading…', () => loadIdentities({ reset: false })));
    nodes.listPanel = el('section', { class: 'panel page-grid__wide', 'aria-labelledby': 'network-list-heading', hidden: true },
        el('div', { class: 'panel-head' },
            el('h2', { id: 'network-list-heading', text: 'Identities in the gallery' }),
            el('div', { class: 'field field--inline' }, el('label', { for: 'network-min-faces', text: 'Show' }), nodes.minFaces)),
        nodes.listProblem,
        nodes.listBusy,
        nodes.listEmpty,
        nodes.list,
        el('div', { class: 'button-row' }, nodes.more));
    body.append(nodes.listPanel);
    built = true;
}

export async function enterNetwork(route) {
    document.title = 'Network — Lineup';
    if (!built) {
        build();
    }
    const mine = ++sequence;
    byId('network-heading').focus({ preventScroll: true });
    const asked = route?.params?.get('case') ?? '';
    if (asked) {
        chosenCase = asked;
    }
    loadStatus(mine);

    nodes.caseBusy.hidden = false;
    hideProblemIn(nodes.caseProblem);
    let cases;
    try {
        // Read every time: a supervisor may have assigned, closed or reauthorised a case since.
        cases = await loadNetworkCases();
    } catch (error) {
        if (mine === sequence) {
            nodes.caseBusy.hidden = true;
            showNetworkProblem(nodes.caseProblem, error, 'Your cases could not be read');
        }
        return;
    }
    if (mine !== sequence) {
        return;
    }
    nodes.caseBusy.hidden = true;
    const select = nodes.caseSelect;
    while (select.options.length > 1) {
        select.remove(1);
    }
    for (const c of cases) {
        select.add(new Option(visibleText(c.number), c.number));
    }
    nodes.caseNone.hidden = cases.length > 0;
    select.disabled = cases.length === 0;
    if (cases.some((c) => c.number === chosenCase)) {
        select.value = chosenCase;
    } else if (cases.length === 1) {
        select.value = cases[0].number;
    } else {
        select.value = '';
    }
    chosenCase = select.value;
    offered = cases;
    showChosenCase();
    if (!chosenCase) {
        return;
    }
    if (listed.caseNumber !== chosenCase || listed.minFaces !== Number(nodes.minFaces.value)) {
        await loadIdentities({ reset: true, mine });
    } else {
        nodes.listPanel.hidden = false;
    }
}

/** The hint under the case choice, the export links and the list's visibility for the chosen case. */
function showChosenCase() {
    const chosen = offered.find((c) => c.number === chosenCase);
    nodes.caseHint.textContent = chosen
        ? `Authorised by ${visibleText(chosen.authorisationReference ?? '')}. Every question below is recorded under this case.`
        : 'Only your open cases with a current authorisation are offered.';
    renderExports();
    nodes.listPanel.hidden = !chosenCase;
}

function renderExports() {
    nodes.exportRow.hidden = !chosenCase;
    if (chosenCase) {
        nodes.exportGraphMl.href = networkExportUrl(chosenCase, 'graphml');
        nodes.exportGexf.href = networkExportUrl(chosenCase, 'gexf');
        nodes.exportRow.setAttribute('aria-describedby', 'network-export-label');
    }
}

async function loadStatus(mine) {
    try {
        const status = await fetchNetworkStatus();
        if (mine === sequence) {
            nodes.status.textContent = statusText(status);
            nodes.status.dataset.identities = String(status?.identities ?? 0);
        }
    } catch (error) {
        if (mine === sequence) {
            nodes.status.textContent = `Where the clustering stands could not be read: ${error?.title ?? 'an error'}.`;
        }
    }
}

async function loadIdentities({ reset, mine = sequence }) {
    const caseNumber = chosenCase;
    const minFaces = Number(nodes.minFaces.value) || 1;
    if (!caseNumber) {
        return;
    }
    const read = ++listSequence;
    if (reset) {
        listed = { caseNumber, minFaces, identities: [], more: false };
        clear(nodes.list);
    }
    nodes.listPanel.hidden = false;
    nodes.listBusy.hidden = false;
    nodes.listEmpty.hidden = true;
    hideProblemIn(nodes.listProblem);
    try {
        const answer = await fetchIdentities(caseNumber, { minFaces, limit: PAGE, offset: listed.identities.length });
        if (mine !== sequence || read !== listSequence) {
            return;
        }
        const page = Array.isArray(answer?.identities) ? answer.identities : [];
        listed.identities.push(...page);
        listed.more = page.length === PAGE;
        nodes.list.append(...page.map((identity) => identityCard(identity, caseNumber)));
        nodes.more.hidden = !listed.more;
        nodes.listEmpty.hidden = listed.identities.length > 0;
        nodes.listEmpty.textContent = minFaces > 1
            ? `No identity has ${minFaces} faces or more. Show every identity, or wait for the next clustering.`
            : 'No identities yet: the gallery has not been clustered.';
        byId('network-list-heading').textContent = `Identities in the gallery (${formatInteger(listed.identities.length)}${listed.more ? '+' : ''})`;
        announce(`${plural(listed.identities.length, 'identity', 'identities')} listed.`);
    } catch (error) {
        if (mine === sequence && read === listSequence) {
            showNetworkProblem(nodes.listProblem, error, 'The identities could not be listed');
        }
    } finally {
        if (mine === sequence && read === listSequence) {
            nodes.listBusy.hidden = true;
        }
    }
}
