// One candidate opened: the gallery photo's preview with all its faces boxed (the opened one highlighted), its
// provenance and its sightings. Everything here is untrusted web data and goes in as text.

import { ApiError, apiPath, fetchImage } from './api.js';
import { BoxLayer } from './boxes.js';
import { byId, clear, el } from './dom.js';
import { formatDateTime, formatFixed, formatInteger, formatOneIn, formatRaw, plural, visibleText } from './format.js';
import { state } from './state.js';
import { announce, announceError, describeError } from './status.js';

const cache = new Map();
let layer = null;
let sequence = 0;
let abort = null;
let shownImageId = null;
let goBack = () => {};

export function initCandidate({ back }) {
    goBack = back;
    layer = new BoxLayer(byId('candidate-image'), byId('candidate-boxes'));
    byId('back-to-results').addEventListener('click', () => goBack());
    document.addEventListener('keydown', (event) => {
        if (event.key !== 'Escape' || event.defaultPrevented || byId('candidate-view').hidden) {
            return;
        }
        if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) {
            return;
        }
        event.preventDefault();
        goBack();
    });
}

export function clearCandidateCache() {
    cache.clear();
}

export function leaveCandidate() {
    abort?.abort();
    abort = null;
    sequence += 1;
}

export async function enterCandidate({ imageId, faceId }) {
    const mine = ++sequence;
    document.title = `Image ${imageId} — Lineup`;
    const sameImage = shownImageId === imageId && !byId('candidate-body').hidden;

    let detail = cache.get(imageId);
    if (!detail) {
        abort?.abort();
        const controller = new AbortController();
        abort = controller;
        byId('candidate-heading').textContent = `Gallery image ${imageId}`;
        byId('candidate-body').hidden = true;
        byId('candidate-match').hidden = true;
        byId('candidate-problem').hidden = true;
        byId('candidate-busy').hidden = false;
        byId('candidate-view').setAttribute('aria-busy', 'true');
        focusTop();
        announce('Loading the image…', { sticky: true });
        try {
            detail = await fetchImage(imageId, controller.signal);
        } catch (error) {
            if (error?.name === 'AbortError' || mine !== sequence) {
                return;
            }
            byId('candidate-busy').hidden = true;
            byId('candidate-view').setAttribute('aria-busy', 'false');
            if (error instanceof ApiError && error.status === 401) {
                return;
            }
            showProblem(error);
            return;
        } finally {
            if (abort === controller) {
                abort = null;
            }
        }
        if (mine !== sequence) {
            return;
        }
        cache.set(imageId, detail);
        announce(`Image ${imageId} loaded.`);
    }

    byId('candidate-busy').hidden = true;
    byId('candidate-view').setAttribute('aria-busy', 'false');
    byId('candidate-problem').hidden = true;
    render(detail, imageId, faceId, sameImage);
    if (!sameImage) {
        focusTop();
    }
}

function focusTop() {
    window.scrollTo(0, 0);
    byId('candidate-heading').focus({ preventScroll: true });
}

function showProblem(error) {
    const box = clear(byId('candidate-problem'));
    box.append(el('p', { class: 'problem__title', text: error.title ?? 'The image could not be loaded' }));
    if (error.detail) {
        box.append(el('p', { class: 'problem__detail', text: error.detail }));
    }
    box.hidden = false;
    box.focus();
    announceError(describeError(error));
}

function findCandidate(faceId) {
    const candidates = state.results?.candidates;
    if (!Array.isArray(candidates) || faceId === null || faceId === undefined) {
        return null;
    }
    return candidates.find((c) => String(c.faceId) === String(faceId)) ?? null;
}

function render(detail, imageId, faceId, sameImage) {
    const selectedId = faceId === null || faceId === undefined ? null : String(faceId);
    const faces = Array.isArray(detail.faces) ? detail.faces : [];
    const collectionName = detail.collection?.name;
    byId('candidate-heading').textContent = `Gallery image ${detail.id ?? imageId}`;

    renderMatch(findCandidate(selectedId));

    // The preview, with every face boxed.
    const img = byId('candidate-image');
    const previewUrl = detail.previewUrl
        ? apiPath(detail.previewUrl, `/api/images/${encodeURIComponent(detail.id ?? imageId)}/preview`)
        : null;
    byId('candidate-no-preview').hidden = Boolean(previewUrl);
    byId('candidate-frame').hidden = !previewUrl;
    if (previewUrl && !(sameImage && img.getAttribute('src') === previewUrl)) {
        const size = previewSize(detail);
        img.setAttribute('width', size.width);
        img.setAttribute('height', size.height);
        img.alt = `Preview of gallery image ${detail.id ?? imageId}${collectionName ? ` from the collection ${visibleText(collectionName)}` : ''}, with ${plural(faces.length, 'face', 'faces')} boxed`;
        img.src = previewUrl;
    }
    if (previewUrl) {
        layer.set(detail.width, detail.height, faces.map((face) => ({ box: face.box, node: galleryBox(face, detail, imageId, selectedId) })));
    } else {
        layer.clear();
    }

    const opened = faces.find((f) => String(f.id) === selectedId);
    let caption = `${plural(faces.length, 'face', 'faces')} found in this photo.`;
    if (opened) {
        caption += ` The opened face (${opened.id}) is highlighted; press another box to highlight it instead.`;
    } else if (selectedId) {
        caption += ` The opened face (${selectedId}) is not on this image.`;
    }
    if (detail.nearDuplicateOf) {
        caption += ` This image is a near-duplicate copy of image ${detail.nearDuplicateOf}.`;
    }
    byId('candidate-caption').textContent = caption;

    renderProvenance(detail);
    renderSightings(detail);
    byId('candidate-body').hidden = false;
    shownImageId = imageId;
}

function previewSize(detail) {
    if (detail.preview?.width && detail.preview?.height) {
        return detail.preview;
    }
    const longest = Math.max(detail.width || 0, detail.height || 0);
    if (!longest) {
        return { width: 640, height: 480 };
    }
    const scale = Math.min(1, 640 / longest);
    return { width: Math.round(detail.width * scale), height: Math.round(detail.height * scale) };
}

function galleryBox(face, detail, imageId, selectedId) {
    const selected = String(face.id) === selectedId;
    const quality = Number.isFinite(face.quality) ? `, quality ${formatFixed(face.quality, 0)}` : '';
    return el('button', {
        type: 'button',
        class: `face-box face-box--gallery${selected ? ' face-box--selected' : ''}`,
        'data-testid': 'gallery-face',
        'data-face-id': String(face.id),
        'data-selected': selected ? 'true' : null,
        'aria-pressed': String(selected),
        'aria-label': `Face ${face.id}${selected ? ' (the opened candidate)' : ''}${quality}`,
        on: {
            click: () => {
                if (!selected) {
                    location.replace(`#/images/${encodeURIComponent(detail.id ?? imageId)}?face=${encodeURIComponent(face.id)}`);
                }
            },
        },
    }, el('span', { class: 'face-box__label', text: selected ? 'Opened' : String(face.id) }));
}

function renderMatch(candidate) {
    const box = clear(byId('candidate-match'));
    if (!candidate) {
        box.hidden = true;
        return;
    }
    const rate = formatOneIn(candidate.estimatedFmr);
    box.className = `match-line ${candidate.aboveThreshold ? 'match-line--above' : 'match-line--below'}`;
    box.append(
        el('span', { class: 'match-line__item' }, el('strong', { text: `Candidate #${candidate.rank}` })),
        el('span', { class: 'match-line__item' }, 'Similarity ', el('strong', { class: 'num', text: formatFixed(candidate.similarity, 3) })),
        rate
            ? el('span', { class: 'match-line__item' }, 'False-match rate ', el('strong', { class: 'num', text: rate }),
                el('span', { class: 'muted num', text: ` (${formatRaw(candidate.estimatedFmr)})` }))
            : null,
        el('span', { class: `tag ${candidate.aboveThreshold ? 'tag--above' : 'tag--below'}`, text: candidate.aboveThreshold ? 'Above threshold' : 'Below threshold' }),
    );
    box.hidden = false;
}

function textValue(value, { kind = 'text', dash = false } = {}) {
    if (value === null || value === undefined || value === '') {
        return dash
            ? el('span', {}, el('span', { class: 'muted', 'aria-hidden': 'true', text: '—' }), el('span', { class: 'visually-hidden', text: 'not recorded' }))
            : el('span', { class: 'muted', text: 'not recorded' });
    }
    if (kind === 'time') {
        return el('span', { class: 'num', text: formatDateTime(String(value)) });
    }
    if (kind === 'url') {
        return el('span', { class: 'url', translate: 'no', text: visibleText(value) });
    }
    if (kind === 'code') {
        return el('code', { class: 'break', translate: 'no', text: visibleText(value) });
    }
    return el('span', { class: 'break', text: visibleText(value) });
}

function renderProvenance(detail) {
    const list = clear(byId('provenance'));
    const p = detail.provenance ?? {};
    const c = detail.collection ?? {};
    const rows = [
        ['Collection', textValue(c.name)],
        ['Lawful basis', textValue(c.lawfulBasis)],
        ['Jurisdiction', textValue(c.jurisdiction)],
        ['Source URL', textValue(p.sourceUrl, { kind: 'url' })],
        ['Page URL', textValue(p.pageUrl, { kind: 'url' })],
        ['Captured', textValue(p.capturedAt, { kind: 'time' })],
        ['Fetched', textValue(p.fetchedAt, { kind: 'time' })],
        ['Original path', textValue(p.originalPath, { kind: 'code' })],
        ['Record id', textValue(p.recordId, { kind: 'code' })],
    ];
    if (p.licence) {
        rows.push(['Licence', textValue(p.licence)]);
    }
    rows.push(
        ['SHA-256', textValue(detail.sha256, { kind: 'code' })],
        ['Image', textValue([
            detail.format ? String(detail.format).toUpperCase() : null,
            detail.width && detail.height ? `${formatInteger(detail.width)} × ${formatInteger(detail.height)} px` : null,
            detail.id !== undefined ? `id ${detail.id}` : null,
        ].filter(Boolean).join(', '))],
        ['Added to the catalog', textValue(detail.addedAt, { kind: 'time' })],
    );
    if (detail.nearDuplicateOf) {
        rows.push(['Near-duplicate of', el('a', {
            href: `#/images/${encodeURIComponent(detail.nearDuplicateOf)}`,
            text: `image ${detail.nearDuplicateOf}`,
        })]);
    }
    for (const [term, value] of rows) {
        list.append(el('div', { class: 'provenance__row' }, el('dt', { text: term }), el('dd', {}, value)));
    }
}

function renderSightings(detail) {
    const table = byId('sightings');
    const body = clear(table.tBodies[0]);
    const sightings = Array.isArray(detail.sightings) ? detail.sightings : [];
    byId('sightings-heading').textContent = `Sightings (${sightings.length})`;
    const labels = ['#', 'Collection', 'Source URL', 'Page URL', 'Captured', 'Fetched', 'Original path', 'Run', 'Recorded'];
    if (sightings.length === 0) {
        body.append(el('tr', {}, el('td', { colspan: String(labels.length), class: 'muted', text: 'No sightings recorded.' })));
        return;
    }
    sightings.forEach((s, index) => {
        const cells = [
            el('span', { class: 'num', text: String(index + 1) }),
            textValue(s.collection, { dash: true }),
            textValue(s.sourceUrl, { kind: 'url', dash: true }),
            textValue(s.pageUrl, { kind: 'url', dash: true }),
            textValue(s.capturedAt, { kind: 'time', dash: true }),
            textValue(s.fetchedAt, { kind: 'time', dash: true }),
            textValue(s.originalPath, { kind: 'code', dash: true }),
            s.runId === null || s.runId === undefined ? textValue(null, { dash: true }) : el('span', { class: 'num', text: String(s.runId) }),
            textValue(s.seenAt, { kind: 'time', dash: true }),
        ];
        body.append(el('tr', { dataset: { sightingId: s.id ?? '' } },
            ...cells.map((cell, i) => el(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row', 'data-label': labels[i] } : { 'data-label': labels[i] }, cell))));
    });
}
