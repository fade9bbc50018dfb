// One identity in a case (GET /api/network/identities/{id}): its faces as a grid (the fixed ones marked), its sources and
// timeline of sightings, a name (PUT …/name), its associates within 1 or 2 hops with the co-appearance graph (GET
// …/associates), the evidence of an edge (GET /api/network/edges/{a}/{b}: the shared photos and pages), and the
// neighbourhood as GraphML or GEXF. Everything shown is untrusted web data and goes in as text.

import {
    ApiError, apiPath, fetchAssociates, fetchEdge, fetchIdentity, nameIdentity, networkExportUrl,
} from './api.js';
import { append, byId, clear, el, focusAndReveal } from './dom.js';
import { formatDate, formatDateTime, formatFixed, formatInteger, plural, visibleText } from './format.js';
import { destroyGraph, drawGraph, fitGraph, selectEdge } from './graph.js';
import { identityHref, rememberNetworkCase, showNetworkProblem } from './network.js';
import { go } from './router.js';
import { can, state } from './state.js';
import { announce } from './status.js';
import { errorText, fillTable, hideProblemIn, setFormError, tag, withBusy } from './ui.js';

let built = false;
let sequence = 0;
let graphSequence = 0;
let evidenceSequence = 0;
const nodes = {};
/** { identityId, caseNumber, identity (IdentityDto), associates (AssociatesDto) } of the page shown, or null. */
let shown = null;
let resizeObserver = null;

export function initIdentity() {}

export function leaveIdentity() {
    sequence += 1;
    graphSequence += 1;
    evidenceSequence += 1;
    destroyGraph();
}

export function resetIdentity() {
    leaveIdentity();
    shown = null;
    resizeObserver?.disconnect();
    resizeObserver = null;
    if (built) {
        clear(byId('identity-body'));
        clear(byId('identity-toolbar'));
        built = false;
    }
}

const faceThumb = (faceId, url) => apiPath(url, `/api/faces/${encodeURIComponent(faceId)}/thumbnail`);
const imagePreview = (imageId, url) => apiPath(url, `/api/images/${encodeURIComponent(imageId)}/preview`);
const imageHref = (imageId, faceId) => `#/images/${encodeURIComponent(imageId)}${faceId !== null && faceId !== undefined ? `?face=${encodeURIComponent(faceId)}` : ''}`;

function busyLine(text) {
    return el('p', { class: 'busy-line', hidden: true }, el('span', { class: 'spinner', 'aria-hidden': 'true' }), ` ${text}`);
}

function build() {
    nodes.back = el('a', { class: 'button', href: '#/network', 'data-testid': 'back-to-identities' }, el('span', { 'aria-hidden': 'true', text: '←' }), ' Identities');
    nodes.backToResults = el('a', { class: 'button button--quiet', href: '#/search', hidden: true, 'data-testid': 'back-to-search' },
        el('span', { 'aria-hidden': 'true', text: '←' }), ' Search results');
    byId('identity-toolbar').replaceChildren(nodes.back, nodes.backToResults);

    nodes.meta = el('p', { class: 'identity-meta', 'data-testid': 'identity-meta' });
    nodes.problem = el('div', { class: 'problem', tabindex: '-1', hidden: true, 'data-testid': 'identity-problem' });
    nodes.busy = busyLine('Loading the identity…');

    // Faces.
    nodes.facesHeading = el('h2', { id: 'identity-faces-heading', text: 'Faces' });
    nodes.faces = el('ol', { class: 'face-grid', 'data-testid': 'identity-faces', 'aria-labelledby': 'identity-faces-heading' });
    const facesPanel = el('section', { class: 'panel page-grid__wide', 'aria-labelledby': 'identity-faces-heading' },
        nodes.facesHeading,
        el('p', { class: 'muted small', text: 'Best quality first. A face marked “fixed” was placed here by an analyst: re-clustering keeps it. Open a face to see its whole photo and provenance.' }),
        nodes.faces);

    // Associates and the graph.
    nodes.hops = el('select', { id: 'identity-hops', name: 'hops', 'data-testid': 'identity-hops' },
        el('option', { value: '1', text: '1 hop: seen with this identity' }),
        el('option', { value: '2', text: '2 hops: also seen with those' }));
    nodes.hops.addEventListener('change', () => {
        if (shown) {
            shown.hops = Number(nodes.hops.value) === 2 ? 2 : 1;
            history.replaceState(null, '', `${identityHref(shown.identityId, shown.caseNumber)}${shown.hops === 2 ? '&hops=2' : ''}`);
            loadAssociates();
        }
    });
    nodes.graphBusy = busyLine('Loading the associates…');
    nodes.graphProblem = el('div', { class: 'problem', tabindex: '-1', hidden: true });
    nodes.graph = el('div', { class: 'graph', id: 'identity-graph', 'data-testid': 'identity-graph', role: 'img', 'aria-label': 'Co-appearance graph' });
    nodes.graphEmpty = el('p', { class: 'muted', hidden: true, 'data-testid': 'identity-no-associates' });
    nodes.legend = el('p', { class: 'graph-legend muted small' },
        el('span', { class: 'graph-legend__item' }, el('span', { class: 'graph-legend__line', 'aria-hidden': 'true' }), ' same photo'),
        el('span', { class: 'graph-legend__item' }, el('span', { class: 'graph-legend__line graph-legend__line--dashed', 'aria-hidden': 'true' }), ' same page only'),
        el('span', { class: 'graph-legend__item', text: 'Thicker: seen together more often. Click a line for its evidence, a circle to open that identity; the table below lists the same.' }));
    nodes.associates = el('table', { class: 'data-table', 'data-testid': 'identity-associates' },
        el('caption', { class: 'visually-hidden', text: 'Associates' }),
        el('thead', {}, el('tr', {}, ...['Identity', 'Hops', 'Seen with', 'Photos', 'Pages', 'Evidence'].map((label) => el('th', { scope: 'col', text: label })))),
        el('tbody'));
    nodes.evidence = el('section', { class: 'evidence-panel', id: 'edge-evidence', 'data-testid': 'edge-evidence', tabindex: '-1', hidden: true, 'aria-labelledby': 'edge-evidence-heading' });
    nodes.exportGraphMl = el('a', { class: 'button button--small', 'data-testid': 'identity-export-graphml', download: 'lineup-network.graphml' }, 'GraphML');
    nodes.exportGexf = el('a', { class: 'button button--small', 'data-testid': 'identity-export-gexf', download: 'lineup-network.gexf' }, 'GEXF');
    const graphPanel = el('section', { class: 'panel page-grid__wide', 'aria-labelledby': 'identity-graph-heading' },
        el('div', { class: 'panel-head' },
            el('h2', { id: 'identity-graph-heading', text: 'Seen with' }),
            el('div', { class: 'field field--inline' }, el('label', { for: 'identity-hops', text: 'Reach' }), nodes.hops)),
        el('p', { class: 'muted small', text: 'Identities seen in the same photo (or on the same page) as this one. Every link carries its evidence: check it before relying on it.' }),
        nodes.graphProblem,
        nodes.graphBusy,
        nodes.graphEmpty,
        nodes.graph,
        nodes.legend,
        nodes.evidence,
        el('div', { class: 'table-scroll' }, nodes.associates),
        el('div', { class: 'button-row export-row' }, el('span', { class: 'muted small', id: 'identity-export-label', text: 'This neighbourhood for Gephi:' }),
            nodes.exportGraphMl, nodes.exportGexf));

    // Timeline and sources.
    nodes.timeline = el('table', { class: 'data-table', 'data-testid': 'identity-timeline' },
        el('caption', { class: 'visually-hidden', text: 'Sightings by capture date' }),
        el('thead', {}, el('tr', {}, ...TIMELINE_LABELS.map((label) => el('th', { scope: 'col', text: label })))),
        el('tbody'));
    nodes.timelineHeading = el('h2', { id: 'identity-timeline-heading', text: 'Timeline' });
    const timelinePanel = el('section', { class: 'panel page-grid__wide', 'aria-labelledby': 'identity-timeline-heading' },
        nodes.timelineHeading,
        el('p', { class: 'muted small', text: 'Every sighting of its faces, by the date the photo was taken (unknown dates last): where it was seen and in which collection.' }),
        el('div', { class: 'table-scroll' }, nodes.timeline));
    nodes.sources = el('ul', { class: 'plain-list', 'data-testid': 'identity-sources' });
    const sourcesPanel = el('section', { class: 'panel', 'aria-labelledby': 'identity-sources-heading' },
        el('h2', { id: 'identity-sources-heading', text: 'Sources' }),
        el('p', { class: 'muted small', text: 'The sites its photos were seen on, and the collections they were ingested into.' }),
        nodes.sources);

    // Name.
    nodes.name = el('input', { id: 'identity-name', name: 'name', type: 'text', maxlength: '200', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'identity-name-hint' });
    nodes.nameError = el('p', { class: 'form-error', id: 'identity-name-error', hidden: true });
    nodes.nameSubmit = el('button', { type: 'submit', class: 'button button--primary', 'data-testid': 'identity-name-save' }, 'Save the name');
    nodes.nameForm = el('form', { class: 'form', novalidate: true },
        el('div', { class: 'field' },
            el('label', { for: 'identity-name', text: 'Name' }),
            nodes.name,
            el('span', { class: 'field__hint', id: 'identity-name-hint', text: 'Shown instead of “identity N” to everyone who asks in a case. Naming fixes its faces to it (re-clustering keeps them); leave it empty to clear the name. Recorded with your name.' })),
        nodes.nameError,
        el('div', { class: 'button-row' }, nodes.nameSubmit));
    nodes.nameForm.addEventListener('submit', (event) => {
        event.preventDefault();
        withBusy(nodes.nameSubmit, 'Saving…', submitName);
    });
    nodes.name.addEventListener('input', () => nodes.name.removeAttribute('aria-invalid'));
    const namePanel = el('section', { class: 'panel', 'aria-labelledby': 'identity-name-heading' },
        el('h2', { id: 'identity-name-heading', text: 'Name this identity' }),
        nodes.nameForm);

    nodes.content = el('div', { class: 'page-grid', hidden: true }, facesPanel, graphPanel, timelinePanel, sourcesPanel, namePanel);
    byId('identity-body').replaceChildren(
        nodes.meta,
        el('p', { class: 'muted small', text: 'An identity is a group of faces the clustering found alike: a lead, not an identification.' }),
        nodes.problem,
        nodes.busy,
        nodes.content);

    // The graph keeps its drawing fitted when the page (and so its container) changes width.
    if ('ResizeObserver' in window) {
        let width = 0;
        resizeObserver = new ResizeObserver((entries) => {
            const next = Math.round(entries[0]?.contentRect?.width ?? 0);
            if (next && next !== width) {
                width = next;
                fitGraph();
            }
        });
        resizeObserver.observe(nodes.graph);
    }
    built = true;
}

const TIMELINE_LABELS = ['Captured', 'Seen', 'Domain', 'Page', 'Collection', 'Face'];

export async function enterIdentity(route, from) {
    if (!built) {
        build();
    }
    const mine = ++sequence;
    const identityId = String(route.identityId);
    const caseNumber = route.caseNumber ?? '';
    const hops = route.params?.get('hops') === '2' ? 2 : 1;
    const same = shown && shown.identityId === identityId && shown.caseNumber === caseNumber;
    rememberNetworkCase(caseNumber);
    document.title = `Identity ${identityId} — Lineup`;
    nodes.back.href = caseNumber ? `#/network?case=${encodeURIComponent(caseNumber)}` : '#/network';
    nodes.backToResults.hidden = !(can('search') && state.results);
    nodes.hops.value = String(hops);
    hideProblemIn(nodes.problem);
    if (!same) {
        byId('identity-heading').textContent = `Identity ${identityId}`;
        nodes.meta.textContent = '';
        nodes.content.hidden = true;
        destroyGraph();
        hideEvidence();
    }
    if (from !== 'image') {
        window.scrollTo(0, 0);
        byId('identity-heading').focus({ preventScroll: true });
    }
    if (!caseNumber) {
        nodes.busy.hidden = true;
        showNetworkProblem(nodes.problem, new ApiError({
            status: 400,
            title: 'No case given',
            detail: 'Open the identity from the network page or a search, so that the question is asked (and recorded) in one of your cases.',
        }), 'No case given');
        return;
    }
    shown = { identityId, caseNumber, hops, identity: same ? shown.identity : null, associates: null };

    nodes.busy.hidden = false;
    byId('identity-view').setAttribute('aria-busy', 'true');
    let detail;
    try {
        detail = await fetchIdentity(identityId, caseNumber);
    } catch (error) {
        if (mine === sequence) {
            nodes.busy.hidden = true;
            byId('identity-view').setAttribute('aria-busy', 'false');
            nodes.content.hidden = true;
            showNetworkProblem(nodes.problem, error, 'The identity could not be loaded');
        }
        return;
    }
    if (mine !== sequence) {
        return;
    }
    nodes.busy.hidden = true;
    byId('identity-view').setAttribute('aria-busy', 'false');
    render(detail ?? {});
    announce(`${visibleText(detail?.identity?.label ?? `Identity ${identityId}`)}: ${plural(detail?.faces?.length ?? 0, 'face', 'faces')}.`);
    await loadAssociates();
}

function render(detail) {
    const identity = detail.identity ?? { id: shown.identityId };
    shown.identity = identity;
    renderHeader(identity);
    renderFaces(Array.isArray(detail.faces) ? detail.faces : []);
    const timeline = Array.isArray(detail.timeline) ? detail.timeline : [];
    renderTimeline(timeline);
    renderSources(timeline);
    if (document.activeElement !== nodes.name) {
        nodes.name.value = identity.name ?? '';
    }
    setFormError(nodes.nameError, null);
    nodes.content.hidden = false;
    nodes.exportGraphMl.href = networkExportUrl(shown.caseNumber, 'graphml', shown.identityId, shown.hops);
    nodes.exportGexf.href = networkExportUrl(shown.caseNumber, 'gexf', shown.identityId, shown.hops);
}

function renderHeader(identity) {
    const label = visibleText(identity.label ?? `identity ${identity.id}`);
    const heading = byId('identity-heading');
    heading.textContent = label;
    heading.dataset.identityId = String(identity.id ?? shown.identityId);
    document.title = `${label} — Lineup`;
    // dom.js's append: it skips the missing tag (the native one would write "null").
    append(clear(nodes.meta),
        el('span', { class: 'num', text: `Identity ${identity.id}` }),
        ' · ',
        `${plural(identity.faces ?? 0, 'face', 'faces')} in ${plural(identity.images ?? 0, 'image', 'images')}`,
        ' · ',
        `case ${visibleText(shown.caseNumber)}`,
        identity.locked ? [' ', tag('Corrected', 'info', { title: 'An analyst fixed some of its faces: re-clustering keeps them' })] : null,
    );
}

function renderFaces(faces) {
    nodes.facesHeading.textContent = `Faces (${formatInteger(faces.length)})`;
    const gallery = can('gallery.read');
    clear(nodes.faces).append(...faces.map((face) => {
        const img = el('img', {
            class: 'face-tile__img', src: faceThumb(face.faceId, face.thumbnailUrl), alt: `Face ${face.faceId}`,
            width: 96, height: 96, loading: 'lazy', decoding: 'async',
        });
        return el('li', {
            class: `face-tile${face.locked ? ' face-tile--locked' : ''}`,
            'data-testid': 'identity-face',
            dataset: { faceId: face.faceId, imageId: face.imageId, locked: Boolean(face.locked) },
        },
        gallery ? el('a', { class: 'face-tile__link', href: imageHref(face.imageId, face.faceId) }, img) : img,
        el('span', { class: 'face-tile__meta' },
            el('span', { class: 'num', text: `face ${face.faceId}` }),
            Number.isFinite(face.quality) ? el('span', { class: 'muted num', text: ` · q ${formatFixed(face.quality, 0)}` }) : null),
        face.locked ? tag('Fixed', 'info', { title: 'An analyst fixed this face to the identity' }) : null);
    }));
}

function textOr(value, kind = 'text') {
    if (value === null || value === undefined || value === '') {
        return null;
    }
    if (kind === 'url') {
        return el('span', { class: 'url', translate: 'no', text: visibleText(value) });
    }
    return el('span', { class: 'break', text: visibleText(value) });
}

function renderTimeline(timeline) {
    nodes.timelineHeading.textContent = `Timeline (${plural(timeline.length, 'sighting', 'sightings')})`;
    const gallery = can('gallery.read');
    fillTable(nodes.timeline.tBodies[0], TIMELINE_LABELS, timeline.map((entry) => [
        entry.capturedAt ? el('span', { class: 'num', text: formatDate(String(entry.capturedAt)) }) : el('span', { class: 'muted', text: 'unknown' }),
        entry.seenAt ? el('span', { class: 'num', text: formatDateTime(String(entry.seenAt)) }) : null,
        textOr(entry.domain),
        // The page's address as text: a link would take the analyst to the site (and tell it so).
        textOr(entry.pageUrl ?? entry.sourceUrl, 'url'),
        textOr(entry.collection),
        gallery
            ? el('a', { href: imageHref(entry.imageId, entry.faceId), text: `face ${entry.faceId}` })
            : el('span', { class: 'num', text: `face ${entry.faceId}` }),
    ]), { empty: 'No sightings recorded.', attrs: (i) => ({ dataset: { faceId: timeline[i].faceId, imageId: timeline[i].imageId } }) });
}

function renderSources(timeline) {
    const byDomain = new Map();
    const collections = new Map();
    for (const entry of timeline) {
        const key = entry.domain || '';
        const row = byDomain.get(key) ?? { count: 0, first: null, last: null };
        row.count += 1;
        const date = entry.capturedAt ? formatDate(String(entry.capturedAt)) : null;
        if (date) {
            row.first = !row.first || date < row.first ? date : row.first;
            row.last = !row.last || date > row.last ? date : row.last;
        }
        byDomain.set(key, row);
        if (entry.collection) {
            collections.set(entry.collection, (collections.get(entry.collection) ?? 0) + 1);
        }
    }
    const list = clear(nodes.sources);
    const domains = [...byDomain.entries()].sort((x, y) => y[1].count - x[1].count || x[0].localeCompare(y[0]));
    for (const [domain, row] of domains) {
        const when = row.first ? (row.first === row.last ? `, captured ${row.first}` : `, captured ${row.first} to ${row.last}`) : '';
        list.append(el('li', { class: 'plain-list__row', 'data-testid': 'identity-source', dataset: { domain } },
            domain ? el('strong', { class: 'break', text: visibleText(domain) }) : el('span', { class: 'muted', text: 'No web address (a file or upload)' }),
            el('span', { class: 'muted small', text: `${plural(row.count, 'sighting', 'sightings')}${when}` })));
    }
    for (const [collection, count] of [...collections.entries()].sort((x, y) => y[1] - x[1])) {
        list.append(el('li', { class: 'plain-list__row' },
            el('span', {}, 'Collection ', el('strong', { class: 'break', text: visibleText(collection) })),
            el('span', { class: 'muted small', text: plural(count, 'sighting', 'sightings') })));
    }
    if (!list.children.length) {
        list.append(el('li', { class: 'muted', text: 'No sightings recorded.' }));
    }
}

async function submitName() {
    if (!shown?.identity) {
        return;
    }
    setFormError(nodes.nameError, null);
    const name = nodes.name.value.trim();
    try {
        const identity = await nameIdentity(shown.identityId, shown.caseNumber, name || null);
        shown.identity = { ...shown.identity, ...identity };
        renderHeader(shown.identity);
        nodes.name.value = shown.identity.name ?? '';
        announce(name ? `Named “${visibleText(name)}”.` : 'The name is cleared.');
        // The graph and the associates show the new label too.
        loadAssociates();
    } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
            return;
        }
        setFormError(nodes.nameError, errorText(error), nodes.name);
    }
}

// --- Associates and the graph ----------------------------------------------------------------------------------------

async function loadAssociates() {
    if (!shown) {
        return;
    }
    const mine = ++graphSequence;
    const { identityId, caseNumber, hops } = shown;
    nodes.graphBusy.hidden = false;
    hideProblemIn(nodes.graphProblem);
    nodes.exportGraphMl.href = networkExportUrl(caseNumber, 'graphml', identityId, hops);
    nodes.exportGexf.href = networkExportUrl(caseNumber, 'gexf', identityId, hops);
    let answer;
    try {
        answer = await fetchAssociates(identityId, caseNumber, hops);
    } catch (error) {
        if (mine === graphSequence) {
            nodes.graphBusy.hidden = true;
            showNetworkProblem(nodes.graphProblem, error, 'The associates could not be loaded');
        }
        return;
    }
    if (mine !== graphSequence) {
        return;
    }
    nodes.graphBusy.hidden = true;
    shown.associates = answer;
    const associates = Array.isArray(answer?.associates) ? answer.associates : [];
    const graph = answer?.graph ?? { nodes: [], edges: [] };
    renderAssociates(associates, graph);
    const none = associates.length === 0;
    nodes.graphEmpty.hidden = !none;
    nodes.graphEmpty.textContent = none ? 'No other identity was seen in a photo or on a page with this one.' : '';
    nodes.graph.hidden = none;
    nodes.legend.hidden = none;
    nodes.graph.dataset.nodes = String(graph.nodes?.length ?? 0);
    nodes.graph.dataset.edges = String(graph.edges?.length ?? 0);
    delete nodes.graph.dataset.drawn;
    delete nodes.graph.dataset.hops;
    if (none) {
        destroyGraph();
        return;
    }
    const label = visibleText(shown.identity?.label ?? `identity ${identityId}`);
    nodes.graph.setAttribute('aria-label', `Co-appearance graph of ${label}: ${plural(graph.nodes?.length ?? 0, 'identity', 'identities')} and `
        + `${plural(graph.edges?.length ?? 0, 'link', 'links')} within ${plural(hops, 'hop', 'hops')}. The table below lists the same associates.`);
    const levels = new Map(associates.map((a) => [String(a.identity?.id), a.hops]));
    try {
        await drawGraph(nodes.graph, graph, {
            centreId: identityId,
            levels,
            onNode: (id) => {
                if (String(id) !== String(shown?.identityId)) {
                    go(identityHref(id, caseNumber));
                }
            },
            onEdge: (a, b) => showEvidence(a, b),
        });
        if (mine === graphSequence) {
            nodes.graph.dataset.drawn = 'true';
            nodes.graph.dataset.hops = String(hops);
        }
    } catch (error) {
        if (mine === graphSequence) {
            showNetworkProblem(nodes.graphProblem, new ApiError({
                status: 0,
                title: 'The graph could not be drawn',
                detail: `${error?.message ?? error}. The table below lists the associates and their evidence.`,
            }), 'The graph could not be drawn');
        }
    }
}

function renderAssociates(associates, graph) {
    const labels = new Map((graph.nodes ?? []).map((n) => [String(n.id), n.label]));
    if (shown?.identity) {
        labels.set(String(shown.identityId), shown.identity.label);
    }
    const tbody = nodes.associates.tBodies[0];
    const columns = ['Identity', 'Hops', 'Seen with', 'Photos', 'Pages', 'Evidence'];
    fillTable(tbody, columns, associates.map((a) => {
        const other = a.identity ?? {};
        const via = String(a.via ?? shown.identityId);
        return [
            el('a', { href: identityHref(other.id, shown.caseNumber), 'data-testid': 'associate-link' }, visibleText(other.label ?? `identity ${other.id}`)),
            el('span', { class: 'num', text: String(a.hops ?? 1) }),
            via === String(shown.identityId)
                ? el('span', { class: 'muted', text: 'this identity' })
                : el('span', { class: 'break', text: visibleText(labels.get(via) ?? `identity ${via}`) }),
            el('span', { class: 'num', text: formatInteger(a.photos ?? 0) }),
            el('span', { class: 'num', text: formatInteger(a.pages ?? 0) }),
            el('button', {
                type: 'button',
                class: 'button button--small',
                'data-testid': 'associate-evidence',
                on: { click: () => showEvidence(via, String(other.id), { fromTable: true }) },
            }, 'Evidence', el('span', { class: 'visually-hidden', text: ` of ${visibleText(other.label ?? '')}` })),
        ];
    }), {
        empty: 'No associates within this reach.',
        attrs: (i) => ({ 'data-testid': 'associate', dataset: { identityId: associates[i].identity?.id, hops: associates[i].hops } }),
    });
}

function hideEvidence() {
    evidenceSequence += 1;
    clear(nodes.evidence);
    nodes.evidence.hidden = true;
    delete nodes.evidence.dataset.a;
    delete nodes.evidence.dataset.b;
}

function evidenceKind(kind) {
    if (kind === 1 || /^page$/i.test(String(kind))) {
        return 'page';
    }
    return 'photo';
}

async function showEvidence(a, b, { fromTable = false } = {}) {
    if (!shown) {
        return;
    }
    const mine = ++evidenceSequence;
    const caseNumber = shown.caseNumber;
    selectEdge(a, b);
    clear(nodes.evidence).append(busyLine('Loading the evidence…'));
    nodes.evidence.firstChild.hidden = false;
    nodes.evidence.hidden = false;
    nodes.evidence.dataset.a = String(a);
    nodes.evidence.dataset.b = String(b);
    let edge;
    try {
        edge = await fetchEdge(a, b, caseNumber);
    } catch (error) {
        if (mine === evidenceSequence) {
            const box = el('div', { class: 'problem', tabindex: '-1' });
            clear(nodes.evidence).append(box);
            showNetworkProblem(box, error, 'The evidence could not be loaded');
        }
        return;
    }
    if (mine !== evidenceSequence) {
        return;
    }
    renderEvidence(edge ?? {});
    if (fromTable) {
        focusAndReveal(nodes.evidence);
    } else {
        nodes.evidence.scrollIntoView({ block: 'nearest' });
    }
}

function renderEvidence(edge) {
    const labelA = visibleText(edge.a?.label ?? `identity ${edge.a?.id}`);
    const labelB = visibleText(edge.b?.label ?? `identity ${edge.b?.id}`);
    const evidence = Array.isArray(edge.evidence) ? edge.evidence : [];
    const photos = edge.photos ?? 0;
    const pages = edge.pages ?? 0;
    const shownCount = evidence.length < photos + pages ? ` (the first ${formatInteger(evidence.length)} shown)` : '';
    const close = el('button', { type: 'button', class: 'button button--small button--quiet', on: { click: () => {
        hideEvidence();
        selectEdge(null, null);
    } } }, 'Close', el('span', { class: 'visually-hidden', text: ' the evidence' }));
    clear(nodes.evidence).append(
        el('div', { class: 'panel-head' },
            el('h3', { id: 'edge-evidence-heading', text: `Seen together: ${labelA} and ${labelB}` }),
            close),
        el('p', { class: 'muted small', 'data-testid': 'edge-evidence-summary' },
            `${plural(photos, 'shared photo', 'shared photos')} and ${plural(pages, 'shared page', 'shared pages')}${shownCount}. `
            + 'A shared photo is the strong link; a shared page only says both were published together.'),
        el('ol', { class: 'evidence-list' }, ...evidence.map((item) => evidenceItem(item, labelA, labelB))));
    nodes.evidence.dataset.photos = String(photos);
    nodes.evidence.dataset.pages = String(pages);
    announce(`Evidence of ${labelA} and ${labelB}: ${plural(evidence.length, 'item', 'items')}.`);
}

function evidenceItem(item, labelA, labelB) {
    const kind = evidenceKind(item.kind);
    const gallery = can('gallery.read');
    const photo = (imageId, url, alt) => {
        const img = el('img', {
            class: 'evidence__img', src: imagePreview(imageId, url), alt, loading: 'lazy', decoding: 'async', 'data-testid': 'evidence-image',
            dataset: { imageId },
        });
        return gallery ? el('a', { class: 'evidence__link', href: imageHref(imageId, null) }, img) : img;
    };
    const face = (faceId, url, label) => el('figure', { class: 'evidence__face' },
        el('img', { class: 'evidence__face-img', src: faceThumb(faceId, url), alt: `Face of ${label}`, width: 56, height: 56, loading: 'lazy', decoding: 'async' }),
        el('figcaption', { class: 'small break', text: label }));
    const pictures = kind === 'photo'
        ? [photo(item.imageId, item.imageUrl, `The photo with ${labelA} and ${labelB} (image ${item.imageId})`)]
        : [photo(item.imageId, item.imageUrl, `Photo of ${labelA} on the shared page (image ${item.imageId})`),
            photo(item.otherImageId, item.otherImageUrl, `Photo of ${labelB} on the shared page (image ${item.otherImageId})`)];
    return el('li', { class: `evidence evidence--${kind}`, 'data-testid': 'evidence', dataset: { kind, imageId: item.imageId } },
        el('div', { class: `evidence__pictures${pictures.length > 1 ? ' evidence__pictures--two' : ''}` }, ...pictures),
        el('div', { class: 'evidence__facts' },
            el('p', {}, kind === 'photo' ? tag('Same photo', 'info') : tag('Same page', 'muted')),
            el('div', { class: 'evidence__faces' },
                face(item.faceId, item.faceUrl, labelA),
                face(item.otherFaceId, item.otherFaceUrl, labelB)),
            el('dl', { class: 'evidence__dl small' },
                el('dt', { text: 'Page' }), el('dd', {}, textOr(item.pageUrl, 'url') ?? el('span', { class: 'muted', text: 'not recorded' })),
                el('dt', { text: 'Captured' }), el('dd', {}, item.capturedAt
                    ? el('span', { class: 'num', text: formatDate(String(item.capturedAt)) })
                    : el('span', { class: 'muted', text: 'unknown' })))));
}
