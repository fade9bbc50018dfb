// The opt-out registry page: the requests recorded (GET /api/optouts) and the form that records one (reference, note,
// 1–10 photos of the person → multipart POST /api/optouts). Recording erases every matching gallery face at once, so
// the form asks for a second, explicit confirmation; the answer (each photo's face, the erasure receipt) is shown.

import { ApiError, fetchOptOuts, recordOptOut } from './api.js';
import { byId, clear, el, focusAndReveal } from './dom.js';
import { formatFixed, formatInteger, formatOneIn, plural, visibleText } from './format.js';
import { announce } from './status.js';
import { errorText, fillFacts, fillTable, hideProblemIn, setFormError, showProblemIn, timeText, withBusy } from './ui.js';

/** The server takes at most this many photos per request (NewOptOut.MaxEmbeddings). */
const MAX_PHOTOS = 10;

let built = false;
let sequence = 0;
const nodes = {};

export function initOptOuts() {}

export function resetOptOuts() {
    sequence += 1;
    if (built) {
        clear(byId('optouts-body'));
        built = false;
    }
}

function build() {
    nodes.problem = el('div', { class: 'problem', tabindex: '-1', hidden: true });
    nodes.threshold = el('p', { class: 'muted small' });
    nodes.labels = ['Reference', 'Recorded', 'Photos used', 'Gallery faces erased', 'Note'];
    nodes.tbody = el('tbody');
    nodes.reference = el('input', { id: 'optout-reference', name: 'reference', type: 'text', maxlength: 200, autocomplete: 'off', spellcheck: 'false', required: true });
    nodes.note = el('textarea', { id: 'optout-note', name: 'note', rows: 2, 'aria-describedby': 'optout-note-hint' });
    nodes.photos = el('input', {
        id: 'optout-photos', name: 'photos', type: 'file', accept: 'image/*', multiple: true, required: true, class: 'optout-files',
        'aria-describedby': 'optout-photos-hint',
    });
    nodes.error = el('p', { class: 'form-error', id: 'optout-error', hidden: true });
    nodes.submit = el('button', { type: 'submit', class: 'button button--primary', id: 'optout-submit' }, 'Record the request…');
    nodes.confirm = el('button', { type: 'button', class: 'button button--warning', id: 'optout-confirm', hidden: true, on: { click: record } },
        'Yes, record it and erase the matching faces');
    nodes.cancel = el('button', { type: 'button', class: 'button button--quiet', id: 'optout-cancel', hidden: true, on: { click: () => asking(false) } }, 'Not yet');
    nodes.warning = el('p', { class: 'notice notice--error', id: 'optout-warning', hidden: true });
    nodes.result = el('div', { class: 'sweep-report', 'data-testid': 'optout-result', tabindex: '-1', hidden: true });
    for (const input of [nodes.reference, nodes.photos]) {
        input.addEventListener('input', () => {
            input.removeAttribute('aria-invalid');
            asking(false);
        });
    }
    nodes.photos.addEventListener('change', () => asking(false));

    const form = el('form', { class: 'form form--narrow', id: 'optout-form', novalidate: true, on: { submit: (event) => {
        event.preventDefault();
        review();
    } } },
    el('div', { class: 'field' }, el('label', { for: 'optout-reference', text: 'Reference (e.g. the request’s ticket number)' }), nodes.reference),
    el('div', { class: 'field' },
        el('label', { for: 'optout-note', text: 'Note (optional)' }),
        nodes.note,
        el('span', { class: 'field__hint', id: 'optout-note-hint', text: 'Kept with the request for administrators; not written to the audit log.' })),
    el('div', { class: 'field' },
        el('label', { for: 'optout-photos', text: `Photos of the person (1 to ${MAX_PHOTOS})` }),
        nodes.photos,
        el('span', { class: 'field__hint', id: 'optout-photos-hint', text: 'The most prominent face of each photo is used. The photos themselves are not kept: only what is needed to recognise the face.' })),
    nodes.error,
    nodes.warning,
    el('div', { class: 'button-row' }, nodes.submit, nodes.confirm, nodes.cancel));

    clear(byId('optouts-body')).append(
        el('section', { class: 'panel page-grid__wide', 'aria-labelledby': 'optout-new-heading' },
            el('h2', { id: 'optout-new-heading', text: 'Record a request' }),
            form,
            nodes.result),
        el('section', { class: 'panel page-grid__wide', 'aria-labelledby': 'optout-list-heading' },
            el('h2', { id: 'optout-list-heading', text: 'Requests' }),
            nodes.problem,
            nodes.threshold,
            el('div', { class: 'table-scroll' }, el('table', { class: 'data-table', 'data-testid': 'optout-table' },
                el('thead', {}, el('tr', {}, ...nodes.labels.map((text) => el('th', { scope: 'col', text })))),
                nodes.tbody))));
    built = true;
}

export async function enterOptOuts() {
    document.title = 'Opt-outs — Lineup';
    if (!built) {
        build();
    }
    byId('optouts-heading').focus({ preventScroll: true });
    await load();
}

async function load() {
    const mine = ++sequence;
    hideProblemIn(nodes.problem);
    try {
        const registry = await fetchOptOuts();
        if (mine === sequence) {
            render(registry ?? {});
        }
    } catch (error) {
        if (mine === sequence) {
            showProblemIn(nodes.problem, error, 'The opt-out requests could not be listed');
        }
    }
}

function render(registry) {
    const requests = Array.isArray(registry.requests) ? registry.requests : [];
    const rate = formatOneIn(registry.thresholdFmr);
    nodes.threshold.textContent = Number.isFinite(registry.threshold)
        ? `A face counts as a requester’s at a similarity of ${formatFixed(registry.threshold, 3)} or more`
            + `${Number.isFinite(registry.searchThreshold) ? ` (searches report from ${formatFixed(registry.searchThreshold, 3)})` : ''}`
            + `${rate ? `; about ${rate} other people’s faces match a request photo too` : ''}: it errs on the side of the person.`
        : '';
    fillTable(nodes.tbody, nodes.labels, requests.map((r) => [
        visibleText(r.reference ?? ''),
        el('span', {}, timeText(r.recordedAt), ` by ${visibleText(r.recordedBy ?? '')}`),
        el('span', { class: 'num', text: formatInteger(r.photos) }),
        el('span', { class: 'num', text: formatInteger(r.facesErased) }),
        r.note ? visibleText(r.note) : null,
    ]), { empty: 'No opt-out requests yet.', attrs: (i) => ({ dataset: { optoutId: requests[i].id } }) });
}

/** The first step: check the form, then ask for the explicit confirmation. */
function review() {
    setFormError(nodes.error, null);
    const files = [...(nodes.photos.files ?? [])];
    if (!nodes.reference.value.trim()) {
        setFormError(nodes.error, 'Give the request’s reference.', nodes.reference);
        return;
    }
    if (files.length === 0 || files.length > MAX_PHOTOS) {
        setFormError(nodes.error, `Choose 1 to ${MAX_PHOTOS} photos of the person (${files.length} chosen).`, nodes.photos);
        return;
    }
    nodes.warning.textContent = `Recording this request erases, at once and for good, every gallery face that matches ${files.length === 1 ? 'this photo' : `these ${files.length} photos`}, `
        + 'and from then on such faces are not stored at ingest and never returned by a search.';
    asking(true);
}

function asking(on) {
    if (!nodes.confirm) {
        return;
    }
    nodes.warning.hidden = !on;
    nodes.confirm.hidden = !on;
    nodes.cancel.hidden = !on;
    nodes.submit.hidden = on;
    if (on) {
        nodes.confirm.focus();
    }
}

async function record() {
    const files = [...(nodes.photos.files ?? [])];
    await withBusy(nodes.confirm, 'Recording…', async () => {
        try {
            const result = await recordOptOut(nodes.reference.value.trim(), nodes.note.value.trim(), files);
            asking(false);
            byId('optout-form').reset();
            showResult(result);
            await load();
        } catch (failure) {
            if (failure instanceof ApiError && failure.status === 401) {
                return;
            }
            asking(false);
            setFormError(nodes.error, errorText(failure));
        }
    });
}

function showResult(r) {
    const request = r.request ?? {};
    const receipt = r.receipt;
    const faces = Array.isArray(receipt?.faces) ? receipt.faces.length : 0;
    const images = Array.isArray(receipt?.images) ? receipt.images.length : 0;
    const photos = Array.isArray(r.photos) ? r.photos : [];
    const dl = el('dl', { class: 'provenance' });
    fillFacts(dl, [
        ['Request', `${visibleText(request.reference ?? '')} (number ${request.id})`],
        ['Photos', el('ul', { class: 'plain-list' }, ...photos.map((p) => el('li', {},
            el('span', { class: 'break', text: visibleText(p.name ?? '') }), ': ',
            p.face
                ? `face ${p.face} of ${p.facesInPhoto} used`
                : el('span', { class: 'muted', text: p.refusal ? visibleText(p.refusal) : 'no face used' }))))],
        ['Compared', `${formatInteger(r.compared)} gallery faces at similarity ${formatFixed(r.threshold, 3)} or more`],
        ['Erased', receipt
            ? el('span', { 'data-testid': 'optout-erased' }, plural(faces, 'face', 'faces'), images ? ` and ${plural(images, 'image', 'images')}` : '',
                receipt.auditSeq ? `; receipt: audit event ${receipt.auditSeq}` : '')
            : el('span', { 'data-testid': 'optout-erased', text: 'no gallery face matched' })],
    ]);
    clear(nodes.result).append(el('h3', { class: 'section-title', text: 'Request recorded' }), dl);
    nodes.result.hidden = false;
    focusAndReveal(nodes.result);
    announce(`Opt-out request ${request.reference ?? ''} recorded; ${receipt ? plural(faces, 'gallery face', 'gallery faces') : 'no gallery face'} erased.`);
}
