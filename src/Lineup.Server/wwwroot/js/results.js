// The answer to a search: outcome, summary (case, gallery size, threshold, searched face) and the candidate grid; the
// refusal of a search at intake (case, authorisation, clearance, attestation); and the refusal of a probe face under the
// quality floor.

import { ApiError, apiPath, fetchIdentityOfFace } from './api.js';
import { byId, clear, el, focusAndReveal } from './dom.js';
import {
    formatDate, formatExpected, formatFixed, formatInteger, formatOneIn, formatRaw, plural, visibleText,
} from './format.js';
import { identityHref } from './network.js';
import { go } from './router.js';
import { announceError, describeError, sentence } from './status.js';
import { can, state } from './state.js';

export const DISCLAIMER = 'Investigative lead, not an identification. A candidate must be verified by trained reviewers before any action.';

export function candidateHref(candidate) {
    return `#/images/${encodeURIComponent(candidate.imageId)}?face=${encodeURIComponent(candidate.faceId)}`;
}

/** Hides every part of the results panel but the placeholder. */
export function clearResults() {
    byId('search-result').hidden = true;
    clear(byId('candidates'));
    clear(byId('search-summary'));
    hideProblem();
    hideRefusal();
    hideIntakeRefusal();
    byId('results-empty').hidden = false;
}

export function showProblem(title, detail) {
    const box = byId('search-problem');
    clear(box);
    box.append(el('p', { class: 'problem__title', text: title }));
    if (detail) {
        box.append(el('p', { class: 'problem__detail', text: detail }));
    }
    box.hidden = false;
    byId('results-empty').hidden = true;
    focusAndReveal(box);
}

export function hideProblem() {
    const box = byId('search-problem');
    clear(box);
    box.hidden = true;
}

// --- Refusal at intake (403 "Search refused", with a `refusal` code) -----------------------------------------------

/** problem: the ProblemDetails body ({ title, detail, refusal, searchId }); help: what the user can do, or null. */
export function showIntakeRefusal(problem, help) {
    byId('intake-refusal-title').textContent = problem.title || 'Search refused';
    const detail = byId('intake-refusal-detail');
    detail.textContent = problem.detail ? visibleText(problem.detail) : '';
    detail.hidden = !problem.detail;
    const helpLine = byId('intake-refusal-help');
    helpLine.textContent = help || '';
    helpLine.hidden = !help;
    const record = byId('intake-refusal-record');
    const recorded = problem.searchId !== undefined && problem.searchId !== null;
    record.textContent = recorded
        ? `The refused attempt is recorded as search ${problem.searchId}${problem.refusal ? ` (${problem.refusal})` : ''}.`
        : '';
    record.hidden = !recorded;
    const box = byId('intake-refusal');
    box.dataset.refusal = problem.refusal ?? '';
    box.hidden = false;
    byId('results-empty').hidden = true;
}

export function hideIntakeRefusal() {
    const box = byId('intake-refusal');
    box.hidden = true;
    delete box.dataset.refusal;
}

// --- Refusal (422 "Probe quality under the floor") ----------------------------------------------------------------

export function showRefusal(problem) {
    const face = problem.face && typeof problem.face === 'object' ? problem.face : null;
    const floor = Number.isFinite(problem.floor) ? problem.floor : state.probe?.detection?.qualityFloor;
    byId('refusal-title').textContent = problem.title || 'Probe quality under the floor';
    byId('refusal-detail').textContent = problem.detail || '';
    byId('refusal-detail').hidden = !problem.detail;

    const score = face?.quality?.score;
    let line = face ? `Face ${face.number}` : 'The face';
    line += Number.isFinite(score) ? `: quality ${formatFixed(score, 0)} of 100` : ': quality not measured';
    if (Number.isFinite(floor)) {
        line += `, under the floor of ${formatFixed(floor, 0)}`;
    }
    line += '.';
    if (problem.searchId !== undefined && problem.searchId !== null) {
        line += ` The refusal is recorded as search ${problem.searchId}.`;
    }
    byId('refusal-face').textContent = line;

    const list = clear(byId('refusal-shortfalls'));
    const shortfalls = Array.isArray(face?.shortfalls) ? face.shortfalls : [];
    for (const reason of shortfalls) {
        list.append(el('li', { text: visibleText(reason) }));
    }
    list.hidden = shortfalls.length === 0;

    byId('override-form').hidden = true;
    byId('override-reason').value = '';
    byId('override-error').hidden = true;
    byId('refusal-actions').hidden = false;
    byId('quality-refusal').hidden = false;
    byId('quality-refusal').dataset.faceNumber = face ? String(face.number) : '';
    byId('results-empty').hidden = true;
}

export function hideRefusal() {
    byId('quality-refusal').hidden = true;
    byId('override-form').hidden = true;
    delete byId('quality-refusal').dataset.faceNumber;
}

/** The face number the visible refusal is about, or null. */
export function refusedFace() {
    const box = byId('quality-refusal');
    if (box.hidden || !box.dataset.faceNumber) {
        return null;
    }
    return Number(box.dataset.faceNumber);
}

// --- Results ------------------------------------------------------------------------------------------------------

function summaryRow(term, ...values) {
    return [el('dt', { text: term }), el('dd', {}, ...values)];
}

export function renderResults(response) {
    hideProblem();
    hideRefusal();
    hideIntakeRefusal();
    byId('results-empty').hidden = true;

    const candidates = (Array.isArray(response.candidates) ? [...response.candidates] : [])
        .sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0));
    const above = candidates.filter((c) => c.aboveThreshold).length;
    const none = response.outcome === 'noCandidateAboveThreshold' || above === 0;
    const threshold = formatFixed(response.threshold, 3);
    const thresholdRate = formatOneIn(response.thresholdFmr);

    const outcomeBox = byId('outcome-box');
    outcomeBox.className = `outcome ${none ? 'outcome--none' : 'outcome--found'}`;
    byId('search-outcome').textContent = none
        ? 'No candidate above the threshold'
        : `${plural(above, 'candidate', 'candidates')} above the threshold`;
    const searched = Number.isFinite(response.searchedFaces) ? response.searchedFaces : response.gallerySize;
    let explain;
    if (none) {
        explain = `None of the ${formatInteger(searched)} faces searched is as similar to the probe face as the threshold `
            + `(${threshold}) requires.`;
        if (candidates.length) {
            explain += ' The closest faces are shown below for context only: they are not leads.';
        }
    } else {
        explain = 'Ranked by similarity to the probe face.';
        if (candidates.length > above) {
            explain += ' Faces below the threshold are shown greyed for context only: they are not leads.';
        }
    }
    byId('outcome-explain').textContent = explain;

    const summary = clear(byId('search-summary'));
    if (typeof response.caseNumber === 'string' && response.caseNumber) {
        summary.append(...summaryRow('Case', visibleText(response.caseNumber)));
    }
    summary.append(...summaryRow('Gallery size', `${formatInteger(response.gallerySize)} faces`));
    if (Number.isFinite(response.searchedFaces) && response.searchedFaces !== response.gallerySize) {
        summary.append(...summaryRow('Faces searched', `${formatInteger(response.searchedFaces)} (after filters)`));
    }
    summary.append(...summaryRow(
        'Threshold',
        el('span', { class: 'num', text: threshold }),
        thresholdRate ? el('span', { class: 'muted', text: ` (estimated false-match rate ${thresholdRate} per comparison)` }) : null,
    ));
    const faceChoice = typeof response.faceChoice === 'string' && response.faceChoice ? ` — ${response.faceChoice}` : '';
    if (Number.isFinite(response.searchedFace)) {
        summary.append(...summaryRow('Searched face', `Face ${response.searchedFace}${faceChoice}`));
    }
    const filter = typeof response.filter === 'string' && response.filter.trim() ? response.filter : 'none';
    summary.append(...summaryRow('Filters', visibleText(filter)));
    if (response.searchId !== undefined && response.searchId !== null) {
        summary.append(...summaryRow('Recorded as', `search ${response.searchId}`));
    }

    const override = byId('override-note');
    if (response.qualityOverride) {
        override.textContent = `This face was searched under the quality floor (${formatFixed(response.qualityFloor, 0)}): treat these candidates with extra caution. Recorded reason: “${visibleText(response.qualityOverride)}”`;
        override.hidden = false;
    } else {
        override.hidden = true;
    }

    byId('candidates-heading').textContent = candidates.length
        ? `Candidates by rank (${candidates.length})`
        : 'No faces came back';
    const grid = clear(byId('candidates'));
    const caseNumber = typeof response.caseNumber === 'string' ? response.caseNumber : '';
    grid.append(...candidates.map((c) => candidateCard(c, searched, caseNumber)));

    const notes = [];
    if (response.calibration) {
        notes.push(`Score calibration: ${visibleText(response.calibration)}.`);
    }
    if (response.disclaimer && response.disclaimer.trim() !== DISCLAIMER) {
        notes.push(visibleText(response.disclaimer));
    }
    const note = byId('calibration-note');
    note.textContent = notes.join(' ');
    note.hidden = notes.length === 0;

    byId('search-result').hidden = false;
}

function fact(term, value, { wide = false, className = null } = {}) {
    return el('div', { class: `fact${wide ? ' fact--wide' : ''}` },
        el('dt', { text: term }),
        el('dd', { class: className }, value));
}

/**
 * The candidate's identity in one click: asks which identity the face was clustered into (in the search's case) and
 * opens its page; a face not clustered yet (404) or a refused question is explained under the button.
 */
function identityButton(c, caseNumber) {
    if (!caseNumber || !can('network')) {
        return null;
    }
    const message = el('p', { class: 'form-error candidate__identity-error', hidden: true, 'data-testid': 'candidate-identity-error' });
    const button = el('button', {
        type: 'button',
        class: 'button button--wide candidate__identity',
        'data-testid': 'candidate-identity',
    }, 'Identity', el('span', { class: 'visually-hidden', text: ` of candidate ${c.rank}: faces, timeline and associates` }));
    button.addEventListener('click', async () => {
        message.hidden = true;
        button.disabled = true;
        button.setAttribute('aria-busy', 'true');
        try {
            const identity = await fetchIdentityOfFace(c.faceId, caseNumber);
            state.lastOpenedFaceId = String(c.faceId);
            go(identityHref(identity.id, caseNumber));
        } catch (error) {
            if (error instanceof ApiError && error.status === 401) {
                return;
            }
            message.textContent = error instanceof ApiError && error.status === 404
                ? sentence('Not in an identity yet', error.detail ?? 'This face has not been clustered; it joins an identity at the next clustering.')
                : describeError(error);
            message.hidden = false;
            announceError(message.textContent);
        } finally {
            button.disabled = false;
            button.removeAttribute('aria-busy');
        }
    });
    return el('div', { class: 'candidate__identity-box' }, button, message);
}

function candidateCard(c, searched, caseNumber) {
    const above = Boolean(c.aboveThreshold);
    const href = candidateHref(c);
    const similarity = formatFixed(c.similarity, 3);
    const rate = formatOneIn(c.estimatedFmr);
    const remember = () => {
        state.lastOpenedFaceId = String(c.faceId);
    };
    const thumb = apiPath(c.thumbnailUrl, `/api/faces/${encodeURIComponent(c.faceId)}/thumbnail`);
    const hasExpected = Number.isFinite(c.expectedFalseCandidates);

    const facts = el('dl', { class: 'candidate__facts' },
        fact('Estimated false-match rate', rate
            ? [el('span', { class: 'candidate__rate num', text: rate }), ' ',
                el('span', { class: 'candidate__raw num', text: `(${formatRaw(c.estimatedFmr)})` })]
            : el('span', { class: 'muted', text: 'not calibrated' }), { wide: true }),
        hasExpected
            ? fact('Expected by chance', el('span', {
                class: 'num',
                text: formatExpected(c.expectedFalseCandidates),
                title: `People expected to score this high by chance among the ${formatInteger(searched)} faces searched`,
            }))
            : null,
        fact('Seen', Number.isFinite(c.seenAt) ? `at ${plural(c.seenAt, 'place', 'places')}` : 'unknown'),
        fact('Source domain', c.sourceDomain ? visibleText(c.sourceDomain) : el('span', { class: 'muted', text: 'unknown' }),
            { wide: true, className: 'break' }),
        fact('Captured', c.capturedAt ? formatDate(c.capturedAt) : el('span', { class: 'muted', text: 'unknown' }), { className: 'num' }),
        c.collection ? fact('Collection', visibleText(c.collection), { className: 'break' }) : null,
        Number.isFinite(c.quality) ? fact('Face quality', `${formatFixed(c.quality, 0)} / 100`, { className: 'num' }) : null,
    );

    return el('li', {
        class: `candidate ${above ? 'candidate--above' : 'candidate--below'}`,
        'data-testid': 'candidate',
        dataset: { rank: c.rank, faceId: c.faceId, imageId: c.imageId, aboveThreshold: above },
    },
    el('div', { class: 'candidate__head' },
        el('a', { class: 'candidate__thumb-link', href, tabindex: '-1', 'aria-hidden': 'true', on: { click: remember } },
            el('img', {
                class: 'candidate__thumb', src: thumb, alt: `Face crop of candidate ${c.rank}`,
                width: 84, height: 84, loading: 'lazy', decoding: 'async',
            })),
        el('div', { class: 'candidate__score' },
            el('span', { class: 'candidate__rankline' },
                el('span', { class: 'candidate__rank', text: `#${c.rank}` }),
                el('span', { class: `tag ${above ? 'tag--above' : 'tag--below'}`, text: above ? 'Above threshold' : 'Below threshold' })),
            el('span', { class: 'candidate__similarity num', text: similarity }),
            el('span', { class: 'candidate__label', text: 'similarity' }))),
    facts,
    el('div', { class: 'candidate__actions' },
        el('a', {
            class: 'button button--wide candidate__open',
            'data-testid': 'open-candidate',
            href,
            on: { click: remember },
        }, 'Open image', el('span', { class: 'visually-hidden', text: ` of candidate ${c.rank}` })),
        identityButton(c, caseNumber)));
}

/** Marks up a one-line text for the status region after a search. */
export function resultsAnnouncement(response) {
    const above = (response.candidates || []).filter((c) => c.aboveThreshold).length;
    if (response.outcome === 'noCandidateAboveThreshold' || above === 0) {
        return sentence('Search done', `No candidate above the threshold among ${formatInteger(response.searchedFaces ?? response.gallerySize)} faces.`);
    }
    return sentence('Search done', `${plural(above, 'candidate', 'candidates')} above the threshold.`);
}
