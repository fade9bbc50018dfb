// How a search's candidates stand under the two-person rule, as the server lets the caller see it (GET
// /api/searches/{id}/candidates): the probe beside each candidate, its scores, its status and the decisions shown.
// A reviewer is never shown another reviewer's decision or the status; the server leaves them out, this only renders.

import { ApiError, apiPath, fetchProbeFaces, probeUrl } from './api.js';
import { BoxLayer } from './boxes.js';
import { el } from './dom.js';
import { formatDateTime, formatFixed, formatOneIn, formatRaw, visibleText } from './format.js';
import { sourceLabel } from './intake.js';
import { can } from './state.js';
import { tag } from './ui.js';

const STATUS = {
    unreviewed: ['Not reviewed yet', 'muted'],
    awaitingSecond: ['Awaiting a second confirmation', 'warn'],
    confirmed: ['Confirmed lead (two reviewers)', 'ok'],
    rejected: ['Rejected', 'bad'],
    disputed: ['Disputed (reviewers disagree)', 'bad'],
};

export function statusTag(status) {
    if (status === null || status === undefined) {
        return tag('Status not shown to you', 'muted', { title: 'Reviewers decide independently: the status is hidden from them.' });
    }
    const [text, kind] = STATUS[status] ?? [String(status), 'info'];
    return tag(text, kind, { 'data-status': status });
}

export function decisionText(decision) {
    return decision === 'confirm' ? 'Confirmed' : decision === 'reject' ? 'Rejected' : String(decision ?? '');
}

/**
 * The probe photo of a search (as uploaded) with the searched face boxed: a probe may hold several faces, and the
 * reviewer must compare the candidates with the one that was searched. A probe no longer kept, or not the caller's to
 * see, says so instead.
 */
export function probeFigure(searchId, url, caption) {
    const src = apiPath(url, probeUrl(searchId));
    const missing = el('p', { class: 'notice', hidden: true, text: 'The probe photo is not available: it has expired under retention, or it is not yours to see.' });
    const note = el('span', { class: 'probe-figure__note' });
    const boxes = el('div', { class: 'stage__boxes' });
    const img = el('img', {
        class: 'stage__img pair__probe', src, alt: `Probe photo of search ${searchId}`, decoding: 'async',
        on: {
            error: () => {
                frame.hidden = true;
                missing.hidden = false;
            },
        },
    });
    const frame = el('div', { class: 'pair__stage' }, el('div', { class: 'stage__frame' }, img, boxes));
    markSearchedFace(searchId, img, boxes, note);
    return el('figure', { class: 'pair__side probe-figure' }, frame, missing,
        el('figcaption', { class: 'muted small' }, caption, note));
}

async function markSearchedFace(searchId, img, boxes, note) {
    let described;
    try {
        described = await fetchProbeFaces(searchId);
    } catch (failure) {
        // An expired or hidden probe already says so through the image (and a 401 signs the user out); anything else
        // is said beside it: without the box the reviewer cannot tell which face was searched.
        if (!(failure instanceof ApiError) || failure.status >= 500) {
            note.textContent = ' · which face was searched could not be read';
        }
        return;
    }
    const faces = Array.isArray(described?.faces) ? described.faces : [];
    const searched = faces.find((face) => face.number === described?.searchedFace);
    if (!searched || !described.probe?.width || !described.probe?.height) {
        note.textContent = faces.length > 1 ? ` · ${faces.length} faces; which was searched is not recorded` : '';
        return;
    }
    new BoxLayer(img, boxes).set(described.probe.width, described.probe.height, [{
        box: searched.box ?? { x1: 0, y1: 0, x2: 0, y2: 0 },
        node: el('span', {
            class: 'face-box face-box--selected face-box--static', 'data-testid': 'searched-face', dataset: { number: searched.number },
        }, el('span', { class: 'face-box__label', text: 'searched face' })),
    }]);
    note.textContent = faces.length > 1
        ? ` · face ${searched.number} of ${faces.length} was searched (boxed)`
        : ' · the searched face is boxed';
}

export function scoreLine(similarity, fmr) {
    const rate = formatOneIn(fmr);
    return el('p', { class: 'pair__scores' },
        el('span', {}, 'Similarity ', el('strong', { class: 'num', text: formatFixed(similarity, 3) })),
        ' ',
        rate
            ? el('span', {}, 'False-match rate ', el('strong', { class: 'num', text: rate }), el('span', { class: 'muted num', text: ` (${formatRaw(fmr)})` }))
            : el('span', { class: 'muted', text: 'False-match rate not calibrated' }));
}

/** The candidates of one search as the caller may see them: a node to put in a page. */
export function searchReview(dto) {
    const candidates = Array.isArray(dto?.candidates) ? dto.candidates : [];
    const head = el('div', { class: 'search-review__head' },
        el('h3', { class: 'section-title', text: `Search ${dto.searchId}` }),
        el('p', { class: 'muted small', text: [
            `by ${visibleText(dto.searchedBy ?? '')}`,
            dto.searchedAt ? `on ${formatDateTime(dto.searchedAt)}` : null,
            dto.probeSource ? `probe: ${sourceLabel(dto.probeSource)}` : null,
        ].filter(Boolean).join(', ') }));
    const list = el('ol', { class: 'lead-list' }, ...candidates.map((c) => el('li', {
        class: `lead ${c.aboveThreshold ? '' : 'lead--below'}`,
        'data-testid': 'search-candidate',
        dataset: { rank: c.rank, status: c.status ?? '' },
    },
    // Gallery faces are for roles that read the gallery; an auditor reviews the record, not the faces.
    can('gallery.read')
        ? el('img', {
            class: 'lead__thumb', src: apiPath(c.thumbnailUrl, `/api/faces/${encodeURIComponent(c.faceId)}/thumbnail`),
            alt: `Face crop of candidate ${c.rank}`, width: 64, height: 64, loading: 'lazy', decoding: 'async',
        })
        : el('span', { class: 'lead__noimage', text: `face ${c.faceId}` }),
    el('div', { class: 'lead__body' },
        el('p', { class: 'lead__title' }, el('strong', { text: `#${c.rank}` }), ' ',
            tag(c.aboveThreshold ? 'Above threshold' : 'Below threshold', c.aboveThreshold ? 'above' : 'below'), ' ',
            // Only candidates above the threshold go to review; "not reviewed" under it would read as work left undone.
            c.aboveThreshold || (c.status && c.status !== 'unreviewed') ? statusTag(c.status) : null),
        scoreLine(c.similarity, c.estimatedFmr),
        Array.isArray(c.decisions) && c.decisions.length
            ? el('ul', { class: 'plain-list small' }, ...c.decisions.map((d) => el('li', {},
                `${decisionText(d.decision)} by ${visibleText(d.user)}${d.at ? ` on ${formatDateTime(d.at)}` : ''}`,
                d.reason ? el('span', { class: 'muted' }, ` — “${visibleText(d.reason)}”`) : null)))
            : null,
        can('gallery.read')
            ? el('a', { class: 'small', href: `#/images/${encodeURIComponent(c.imageId)}?face=${encodeURIComponent(c.faceId)}`, text: 'Open the gallery image' })
            : null))));
    return el('div', {},
        head,
        el('div', { class: 'search-review__body' },
            probeFigure(dto.searchId, dto.probeUrl, 'The probe as uploaded'),
            candidates.length ? list : el('p', { class: 'muted', text: 'This search returned no candidates.' })),
        dto.disclaimer ? el('p', { class: 'muted small', text: visibleText(dto.disclaimer) }) : null);
}
