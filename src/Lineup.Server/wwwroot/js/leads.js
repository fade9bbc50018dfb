// How a search's candidates stand under the two-person rule, as the server lets the caller see it (GET
// /api/searches/{id}/candidates): the probe beside each candidate, its scores, its status and the decisions shown.
// A reviewer is never shown another reviewer's decision or the status; the server leaves them out, this only renders.

import { apiPath, probeUrl } from './api.js';
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

/** The probe photo of a search (as uploaded); a probe no longer kept, or not the caller's to see, says so instead. */
export function probeFigure(searchId, url, caption) {
    const src = apiPath(url, probeUrl(searchId));
    const missing = el('p', { class: 'notice', hidden: true, text: 'The probe photo is not available: it has expired under retention, or it is not yours to see.' });
    const img = el('img', {
        class: 'pair__img', src, alt: `Probe photo of search ${searchId}`, decoding: 'async',
        on: {
            error: () => {
                img.hidden = true;
                missing.hidden = false;
            },
        },
    });
    return el('figure', { class: 'pair__side' }, img, missing, el('figcaption', { class: 'muted small', text: caption }));
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
