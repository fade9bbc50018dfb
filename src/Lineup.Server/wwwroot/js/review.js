// The review queue (GET /api/reviews): each candidate waiting for the caller's decision, its probe beside the gallery
// face, with similarity and false-match rate; Confirm, or Reject with a required reason (POST
// /api/searches/{id}/candidates/{rank}/decision). The queue never shows another reviewer's decision: the server sends
// none, and the answer to a decision is the caller's own decision only.

import { ApiError, apiPath, decideCandidate, fetchReviewQueue } from './api.js';
import { byId, clear, el } from './dom.js';
import { formatDateTime, formatInteger, visibleText } from './format.js';
import { offenceLabel, sourceLabel } from './intake.js';
import { probeFigure, scoreLine } from './leads.js';
import { can } from './state.js';
import { announce, announceError } from './status.js';
import { errorText, hideProblemIn, showProblemIn } from './ui.js';

let sequence = 0;

export function initReview() {}

export function leaveReview() {
    sequence += 1;
}

export function resetReview() {
    sequence += 1;
    clear(byId('review-items'));
}

export async function enterReview() {
    document.title = 'Review queue — Lineup';
    const mine = ++sequence;
    byId('review-busy').hidden = false;
    byId('review-blocked').hidden = true;
    hideProblemIn(byId('review-problem'));
    byId('review-heading').focus({ preventScroll: true });
    try {
        const queue = await fetchReviewQueue();
        if (mine !== sequence) {
            return;
        }
        render(queue ?? {});
    } catch (error) {
        if (mine === sequence) {
            showProblemIn(byId('review-problem'), error, 'The review queue could not be read');
        }
    } finally {
        if (mine === sequence) {
            byId('review-busy').hidden = true;
        }
    }
}

function render(queue) {
    const items = Array.isArray(queue.items) ? queue.items : [];
    const blocked = byId('review-blocked');
    blocked.textContent = queue.blocked ? visibleText(queue.blocked.message ?? 'You cannot decide candidates now.') : '';
    blocked.hidden = !queue.blocked;
    byId('review-empty').hidden = items.length > 0 || Boolean(queue.blocked);
    const list = clear(byId('review-items'));
    list.append(...items.map(item));
    byId('review-heading').textContent = items.length ? `Review queue (${formatInteger(items.length)})` : 'Review queue';
    announce(queue.blocked
        ? 'You cannot decide candidates now.'
        : items.length ? `${items.length === 1 ? 'One candidate' : `${formatInteger(items.length)} candidates`} waiting for your decision.` : 'Nothing is waiting for your decision.');
}

function item(it) {
    const key = `review-${it.searchId}-${it.rank}`;
    const reasonId = `${key}-reason`;
    const errorId = `${key}-error`;
    const reason = el('textarea', { id: reasonId, rows: 2, 'data-testid': 'review-reason', 'aria-describedby': `${key}-reason-hint` });
    const error = el('p', { class: 'form-error', id: errorId, hidden: true });
    const confirm = el('button', { type: 'button', class: 'button button--primary', 'data-testid': 'review-confirm' },
        'Confirm', el('span', { class: 'visually-hidden', text: ` candidate ${it.rank} of search ${it.searchId}` }));
    const reject = el('button', { type: 'button', class: 'button button--warning', 'data-testid': 'review-reject' },
        'Reject', el('span', { class: 'visually-hidden', text: ` candidate ${it.rank} of search ${it.searchId}` }));
    const outcome = el('p', { class: 'review__done', hidden: true, 'data-testid': 'review-outcome' });
    const form = el('div', { class: 'form review__decide' },
        el('div', { class: 'field' },
            el('label', { for: reasonId, text: 'Reason (required to reject; kept with your decision)' }),
            reason,
            el('span', { class: 'field__hint', id: `${key}-reason-hint`, text: 'Say what differs (or, when confirming, what matches). Other reviewers do not see it.' })),
        error,
        el('div', { class: 'button-row' }, confirm, reject));

    const node = el('li', { class: 'panel review', 'data-testid': 'review-item', dataset: { searchId: it.searchId, rank: it.rank } },
        el('h2', { class: 'review__title', id: `${key}-title` },
            `Case ${visibleText(it.caseNumber)}, search ${it.searchId}, candidate #${it.rank}`),
        el('p', { class: 'muted small', text: [
            offenceLabel(it.offence),
            it.searchedAt ? `searched ${formatDateTime(it.searchedAt)}` : null,
            it.probeSource ? `probe: ${sourceLabel(it.probeSource)}` : null,
        ].filter(Boolean).join(' · ') }),
        el('div', { class: 'pair' },
            probeFigure(it.searchId, it.probeUrl, 'Probe'),
            el('figure', { class: 'pair__side' },
                el('img', {
                    class: 'pair__img', src: apiPath(it.thumbnailUrl, `/api/faces/${encodeURIComponent(it.faceId)}/thumbnail`),
                    alt: `Gallery face of candidate ${it.rank}`, decoding: 'async',
                }),
                el('figcaption', { class: 'muted small' }, `Candidate (face ${it.faceId})`,
                    can('gallery.read')
                        ? [' · ', el('a', { href: `#/images/${encodeURIComponent(it.imageId)}?face=${encodeURIComponent(it.faceId)}`, text: 'whole image and provenance' })]
                        : null))),
        scoreLine(it.similarity, it.estimatedFmr),
        form,
        outcome);

    const decide = async (decision) => {
        const text = reason.value.trim();
        error.hidden = true;
        reason.removeAttribute('aria-invalid');
        if (decision === 'reject' && !text) {
            error.textContent = 'Give the reason for rejecting: it is kept with your decision.';
            error.hidden = false;
            reason.setAttribute('aria-invalid', 'true');
            reason.setAttribute('aria-describedby', `${key}-reason-hint ${errorId}`);
            announceError(error.textContent);
            reason.focus();
            return;
        }
        confirm.disabled = true;
        reject.disabled = true;
        try {
            const recorded = await decideCandidate(it.searchId, it.rank, decision, text);
            form.hidden = true;
            const word = (recorded?.decision ?? decision) === 'confirm' ? 'confirmed' : 'rejected';
            outcome.textContent = `You ${word} this candidate${recorded?.at ? ` on ${formatDateTime(recorded.at)}` : ''}. Your decision is recorded; it counts once, independently of other reviewers.`;
            outcome.hidden = false;
            node.dataset.decided = word;
            announce(`Candidate ${it.rank} of search ${it.searchId} ${word}.`);
            outcome.setAttribute('tabindex', '-1');
            outcome.focus();
        } catch (failure) {
            if (failure instanceof ApiError && failure.status === 401) {
                return;
            }
            error.textContent = errorText(failure);
            error.hidden = false;
            announceError(error.textContent);
            confirm.disabled = false;
            reject.disabled = false;
        }
    };
    confirm.addEventListener('click', () => decide('confirm'));
    reject.addEventListener('click', () => decide('reject'));
    return node;
}
