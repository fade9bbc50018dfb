// The search page: the case and the probe's attested source (intake), the probe photo (drop zone or file picker), its
// faces with their quality verdicts, the filters, the search itself, the intake refusal and the quality-floor refusal
// with its "search anyway" path.

import { ApiError, detectFaces, fetchCases, fetchCollections, search } from './api.js';
import { BoxLayer } from './boxes.js';
import { clearCandidateCache } from './candidate.js';
import { byId, clear, el, focusAndReveal } from './dom.js';
import { formatDate, formatFixed, visibleText } from './format.js';
import { CASE_REFUSALS, loadIntake, offenceLabel, refusalHelp, sourceLabel } from './intake.js';
import {
    clearResults, hideIntakeRefusal, hideProblem, hideRefusal, refusedFace, renderResults, resultsAnnouncement, showIntakeRefusal,
    showProblem, showRefusal,
} from './results.js';
import { can, state } from './state.js';
import { announce, announceError, describeError, sentence } from './status.js';

let probeLayer = null;
let detectAbort = null;
let searchAbort = null;
let busy = { detecting: false, searching: false };
let retryTimer = null;
let retryUntil = 0;
let collectionsLoaded = false;
/** The cases the user may search for now (null until read) and the accepted probe sources. */
let intake = { cases: null, sources: null, loading: null };

export function initSearch() {
    const input = byId('probe-file');
    const zone = byId('dropzone');
    probeLayer = new BoxLayer(byId('probe-image'), byId('probe-boxes'));

    zone.addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
        const file = input.files && input.files[0];
        if (file) {
            takeFile(file);
        }
    });

    zone.addEventListener('dragenter', (event) => {
        event.preventDefault();
        zone.classList.add('dropzone--over');
    });
    zone.addEventListener('dragover', (event) => {
        event.preventDefault();
        if (event.dataTransfer) {
            event.dataTransfer.dropEffect = 'copy';
        }
        zone.classList.add('dropzone--over');
    });
    zone.addEventListener('dragleave', (event) => {
        if (!event.relatedTarget || !zone.contains(event.relatedTarget)) {
            zone.classList.remove('dropzone--over');
        }
    });
    zone.addEventListener('drop', (event) => {
        event.preventDefault();
        zone.classList.remove('dropzone--over');
        const files = event.dataTransfer ? [...event.dataTransfer.files] : [];
        if (files.length === 0) {
            announceError('Nothing to use was dropped: drop a photo file.');
            return;
        }
        takeFile(files.find(isImage) ?? files[0]);
    });
    // A photo dropped beside the zone must not replace the page (and the results with it).
    window.addEventListener('dragover', (event) => event.preventDefault());
    window.addEventListener('drop', (event) => event.preventDefault());

    byId('probe-image').addEventListener('load', matchOrientation);
    byId('probe-image').addEventListener('error', () => {
        if (state.probe) {
            showProbeMessage('This browser cannot display the photo, but the server may still read it. The faces are listed below.');
        }
    });

    byId('search-case').addEventListener('change', () => {
        byId('search-case').removeAttribute('aria-invalid');
        updateCaseHint();
        hideIntakeRefusal();
        updateSearchButton();
    });
    byId('search-source-options').addEventListener('change', () => {
        byId('search-source').removeAttribute('aria-invalid');
        hideIntakeRefusal();
        updateSearchButton();
    });

    byId('search-form').addEventListener('submit', (event) => {
        event.preventDefault();
        runSearch();
    });

    byId('choose-other-face').addEventListener('click', () => {
        hideRefusal();
        const first = document.querySelector('#probe-faces [data-below-floor="false"]')
            ?? document.querySelector('#probe-faces [data-testid="probe-face"]');
        (first ?? byId('dropzone')).focus();
    });
    byId('search-anyway').addEventListener('click', () => {
        byId('override-form').hidden = false;
        byId('refusal-actions').hidden = true;
        byId('override-reason').focus();
    });
    byId('override-cancel').addEventListener('click', () => {
        byId('override-form').hidden = true;
        byId('refusal-actions').hidden = false;
        byId('search-anyway').focus();
    });
    byId('override-form').addEventListener('submit', (event) => {
        event.preventDefault();
        const reasonInput = byId('override-reason');
        const reason = reasonInput.value.trim();
        const error = byId('override-error');
        if (!reason) {
            error.textContent = 'Give a reason: it is recorded with the search.';
            error.hidden = false;
            reasonInput.setAttribute('aria-invalid', 'true');
            announceError(error.textContent);
            reasonInput.focus();
            return;
        }
        error.hidden = true;
        reasonInput.removeAttribute('aria-invalid');
        runSearch({ overrideQuality: reason, face: refusedFace() ?? state.probe?.selected ?? null });
    });

    for (const id of ['filter-jurisdiction', 'filter-domain', 'filter-top', 'filter-captured-from', 'filter-captured-to']) {
        byId(id).addEventListener('input', () => byId(id).removeAttribute('aria-invalid'));
    }
}

export function enterSearch({ fromCandidate = false } = {}) {
    document.title = 'Search — Lineup';
    const allowed = can('search');
    byId('search-forbidden').hidden = allowed;
    byId('dropzone').disabled = !allowed;
    byId('intake-panel').hidden = !allowed;
    updateSearchButton();
    if (!collectionsLoaded && can('gallery.read')) {
        loadCollections();
    }
    if (allowed) {
        // Read every time: a supervisor may have assigned, closed or reauthorised a case since.
        loadSearchIntake();
    }
    if (fromCandidate) {
        const id = state.lastOpenedFaceId;
        const link = id ? document.querySelector(`#candidates [data-face-id="${CSS.escape(id)}"] [data-testid="open-candidate"]`) : null;
        (link ?? byId('results-heading')).focus();
        return;
    }
    if (!state.probe && allowed) {
        byId('dropzone').focus();
    }
}

/** Forgets the probe and the results (on sign-out). */
export function resetSearch() {
    detectAbort?.abort();
    searchAbort?.abort();
    busy = { detecting: false, searching: false };
    window.clearInterval(retryTimer);
    retryUntil = 0;
    probeLayer?.clear();
    byId('probe-file').value = '';
    const img = byId('probe-image');
    img.removeAttribute('src');
    img.style.removeProperty('image-orientation');
    byId('probe-stage').hidden = true;
    byId('probe-busy').hidden = true;
    byId('probe-message').hidden = true;
    resetFacesHint();
    clear(byId('probe-faces'));
    byId('dropzone-title').textContent = 'Drop a photo here or choose a file';
    byId('dropzone').classList.remove('dropzone--loaded');
    byId('search-form').reset();
    collectionsLoaded = false;
    intake = { cases: null, sources: null, loading: null };
    const cases = byId('search-case');
    while (cases.options.length > 1) {
        cases.remove(1);
    }
    clear(byId('search-source-options'));
    byId('search-source-refused').textContent = '';
    updateCaseHint();
    byId('intake-none').hidden = true;
    const select = byId('filter-collection');
    while (select.options.length > 1) {
        select.remove(1);
    }
    clearResults();
    updateSearchButton();
}

async function loadCollections() {
    collectionsLoaded = true;
    try {
        const collections = await fetchCollections();
        const select = byId('filter-collection');
        const chosen = select.value;
        while (select.options.length > 1) {
            select.remove(1);
        }
        const list = Array.isArray(collections) ? [...collections] : [];
        list.sort((a, b) => String(a.name).localeCompare(String(b.name)));
        for (const collection of list) {
            const label = collection.jurisdiction ? `${collection.name} (${collection.jurisdiction})` : collection.name;
            const option = new Option(visibleText(label), collection.name);
            select.add(option);
        }
        select.value = chosen;
    } catch (error) {
        collectionsLoaded = false;
        if (!(error instanceof ApiError) || error.status !== 401) {
            announceError(sentence('The collections could not be listed', describeError(error)));
        }
    }
}

/** Reads the user's searchable cases and the probe sources into the intake panel, keeping what was chosen. */
async function loadSearchIntake() {
    if (intake.loading) {
        return intake.loading;
    }
    byId('intake-busy').hidden = intake.cases !== null;
    intake.loading = (async () => {
        try {
            const [cases, rules] = await Promise.all([fetchCases(), loadIntake()]);
            intake.cases = (Array.isArray(cases) ? cases : []).filter((c) => c.searchable);
            intake.sources = rules.probeSources;
            renderCaseChoice();
            renderSourceChoice();
        } catch (error) {
            if (!(error instanceof ApiError) || error.status !== 401) {
                announceError(sentence('Your cases could not be read', describeError(error)));
            }
        } finally {
            intake.loading = null;
            byId('intake-busy').hidden = true;
            updateSearchButton();
        }
    })();
    return intake.loading;
}

function renderCaseChoice() {
    const select = byId('search-case');
    const chosen = select.value;
    while (select.options.length > 1) {
        select.remove(1);
    }
    const cases = intake.cases ?? [];
    for (const c of cases) {
        select.add(new Option(visibleText(`${c.number} — ${offenceLabel(c.offence)}`), c.number));
    }
    if (cases.some((c) => c.number === chosen)) {
        select.value = chosen;
    } else if (cases.length === 1) {
        select.value = cases[0].number;
    } else {
        select.value = '';
    }
    const none = cases.length === 0;
    byId('intake-none').hidden = !none;
    byId('intake-fields').hidden = none;
    updateCaseHint();
}

/** Under the case choice: what authorises the chosen case, and until when. */
function updateCaseHint() {
    const chosen = (intake.cases ?? []).find((c) => c.number === byId('search-case').value);
    byId('search-case-hint').textContent = chosen
        ? `Authorised by ${visibleText(chosen.authorisationReference ?? '')} until ${formatDate(chosen.authorisedUntil) ?? ''}. The search is recorded under this case.`
        : 'Only open cases with a current authorisation are offered.';
}

function renderSourceChoice() {
    const box = byId('search-source-options');
    const chosen = selectedSource();
    const sources = Array.isArray(intake.sources) ? intake.sources : [];
    const accepted = sources.filter((s) => s.accepted);
    const refused = sources.filter((s) => !s.accepted);
    clear(box);
    for (const source of accepted) {
        const inputId = `source-${source.name}`;
        box.append(el('div', { class: 'choice' },
            el('input', {
                type: 'radio', name: 'source', id: inputId, value: source.name, 'data-testid': 'probe-source',
                'aria-describedby': `${inputId}-hint`, checked: source.name === chosen,
            }),
            el('label', { for: inputId },
                el('span', { class: 'choice__label', text: sourceLabel(source.name) }),
                el('span', { class: 'choice__hint', id: `${inputId}-hint`, text: visibleText(source.description ?? '') }))));
    }
    byId('search-source-refused').textContent = refused.length
        ? `Not allowed: ${refused.map((s) => sourceLabel(s.name)).join(', ')}. Searches of these are refused: they have led to wrongful arrests.`
        : '';
}

/** The attested probe source chosen, or ''. */
function selectedSource() {
    const checked = byId('search-source').querySelector('input[name="source"]:checked');
    return checked ? checked.value : '';
}

function isImage(file) {
    return (file.type && file.type.startsWith('image/'))
        || /\.(jpe?g|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i.test(file.name || '');
}

function showProbeMessage(message, { error = false } = {}) {
    const box = byId('probe-message');
    box.textContent = message || '';
    box.hidden = !message;
    box.classList.toggle('notice--error', error);
}

function takeFile(file) {
    if (!can('search')) {
        announceError('Your role does not allow this.');
        return;
    }
    if (!isImage(file)) {
        const message = `“${visibleText(file.name || 'That file')}” is not an image. Choose a JPEG, PNG or WebP photo.`;
        showProbeMessage(message, { error: true });
        announceError(message);
        return;
    }
    loadProbe(file);
}

async function loadProbe(file) {
    detectAbort?.abort();
    searchAbort?.abort();
    if (state.probe?.url) {
        URL.revokeObjectURL(state.probe.url);
    }
    const url = URL.createObjectURL(file);
    state.probe = { file, url, detection: null, selected: null };
    state.results = null;
    clearResults();

    byId('dropzone-title').textContent = `${visibleText(file.name || 'Photo')} — drop or choose another`;
    byId('dropzone').classList.add('dropzone--loaded');
    const img = byId('probe-image');
    img.style.removeProperty('image-orientation');
    img.alt = `The probe photo, ${visibleText(file.name || 'unnamed')}`;
    img.removeAttribute('width');
    img.removeAttribute('height');
    img.src = url;
    byId('probe-stage').hidden = false;
    probeLayer.clear();
    showProbeMessage(null);
    byId('faces-hint').textContent = 'Detecting faces…';
    clear(byId('probe-faces'));

    const controller = new AbortController();
    detectAbort = controller;
    busy.detecting = true;
    byId('probe-busy').hidden = false;
    byId('probe-stage').setAttribute('aria-busy', 'true');
    updateSearchButton();
    announce('Detecting faces…', { sticky: true });
    try {
        const detection = await detectFaces(file, controller.signal);
        if (state.probe?.file !== file) {
            return;
        }
        const faces = Array.isArray(detection?.faces) ? detection.faces : [];
        state.probe.detection = { probe: detection.probe ?? {}, qualityFloor: detection.qualityFloor, faces };
        if (faces.length === 1) {
            state.probe.selected = faces[0].number;
        }
        renderFaces();
        const below = faces.filter((f) => f.belowFloor).length;
        if (faces.length === 0) {
            showProbeMessage('No face was found in this photo. Try a photo where the face is larger, sharper or better lit.', { error: true });
            announceError('No face was found in this photo.');
        } else {
            announce(`${faces.length === 1 ? 'One face' : `${faces.length} faces`} found`
                + `${below ? `; ${below} under the quality floor` : ''}.`);
        }
    } catch (error) {
        if (error?.name === 'AbortError' || state.probe?.file !== file) {
            return;
        }
        const message = describeError(error);
        showProbeMessage(message, { error: true });
        announceError(message);
        byId('faces-hint').textContent = 'The faces could not be detected.';
    } finally {
        if (detectAbort === controller) {
            detectAbort = null;
            busy.detecting = false;
            byId('probe-busy').hidden = true;
            byId('probe-stage').removeAttribute('aria-busy');
            updateSearchButton();
        }
    }
}

/** When the browser shows the photo rotated by its EXIF orientation but the server measured it unrotated, show it unrotated. */
function matchOrientation() {
    const img = byId('probe-image');
    const probe = state.probe?.detection?.probe;
    if (!probe?.width || !probe?.height || probe.width === probe.height) {
        return;
    }
    if (img.naturalWidth === probe.height && img.naturalHeight === probe.width) {
        img.style.setProperty('image-orientation', 'none');
        probeLayer.layout();
    }
}

function resetFacesHint() {
    byId('faces-hint').textContent = 'The faces found in the photo appear here, each with its quality.';
}

function floorText() {
    const floor = state.probe?.detection?.qualityFloor;
    return Number.isFinite(floor) ? formatFixed(floor, 0) : null;
}

function renderFaces() {
    const detection = state.probe?.detection;
    const list = clear(byId('probe-faces'));
    if (!detection) {
        probeLayer.clear();
        resetFacesHint();
        return;
    }
    const faces = detection.faces;
    const searched = state.results?.searchedFace;
    const floor = floorText();
    byId('faces-hint').textContent = faces.length === 0
        ? 'No face was found in this photo.'
        : faces.length > 1
        ? 'Choose the face to search: press its box on the photo or its entry here. Without a choice the server searches the most prominent face.'
        : `Quality is scored 0–100; faces under the floor${floor ? ` (${floor})` : ''} are refused unless you give a reason.`;

    for (const face of faces) {
        list.append(faceItem(face, face.number === state.probe.selected, face.number === searched, floor));
    }

    const img = byId('probe-image');
    if (detection.probe?.width && detection.probe?.height && !img.getAttribute('width')) {
        img.setAttribute('width', detection.probe.width);
        img.setAttribute('height', detection.probe.height);
    }
    matchOrientation();
    probeLayer.set(detection.probe?.width, detection.probe?.height, faces.map((face) => ({
        box: face.box ?? { x1: 0, y1: 0, x2: 0, y2: 0 },
        node: el('button', {
            type: 'button',
            class: boxClass(face, face.number === state.probe.selected, face.number === searched),
            tabindex: '-1',
            'aria-label': `Face ${face.number}${face.belowFloor ? ', under the quality floor' : ''}`,
            dataset: { number: face.number },
            on: { click: () => selectFace(face.number) },
        }, el('span', { class: 'face-box__label', text: String(face.number) })),
    })));
    updateSearchButton();
}

function boxClass(face, selected, searched) {
    return ['face-box', face.belowFloor ? 'face-box--below' : 'face-box--ok',
        selected ? 'face-box--selected' : '', searched ? 'face-box--searched' : ''].filter(Boolean).join(' ');
}

function faceItem(face, selected, searched, floor) {
    const score = face.quality && Number.isFinite(face.quality.score) ? face.quality.score : null;
    const below = Boolean(face.belowFloor);
    const shortfalls = Array.isArray(face.shortfalls) ? face.shortfalls : [];
    const meta = [];
    if (Number.isFinite(face.interEyeDistance)) {
        meta.push(`eyes ${formatFixed(face.interEyeDistance, 0)} px apart`);
    }
    if (Number.isFinite(face.detectorScore)) {
        meta.push(`detector ${formatFixed(face.detectorScore, 2)}`);
    }

    const button = el('button', {
        type: 'button',
        class: `face-choice${selected ? ' face-choice--selected' : ''}${below ? ' face-choice--below' : ''}`,
        'data-testid': 'probe-face',
        'aria-pressed': String(selected),
        'aria-describedby': shortfalls.length ? `face-${face.number}-shortfalls` : null,
        dataset: { number: face.number, belowFloor: String(below) },
        on: { click: () => selectFace(face.number) },
    },
    el('span', { class: 'face-choice__top' },
        el('span', { class: 'face-choice__name', text: `Face ${face.number}` }),
        searched ? el('span', { class: 'tag tag--searched', text: 'Searched' }) : null,
        el('span', { class: `verdict ${below ? 'verdict--below' : 'verdict--ok'}`, text: below ? 'Under the floor' : 'OK' })),
    el('span', { class: 'face-choice__score' },
        score === null
            ? 'Quality not measured'
            : `Quality ${formatFixed(score, 0)} / 100${floor ? ` (floor ${floor})` : ''}`),
    meta.length ? el('span', { class: 'face-choice__meta', text: meta.join(' · ') }) : null);

    let reasons = null;
    if (shortfalls.length) {
        reasons = el('div', { class: `shortfall-box${below ? ' shortfall-box--below' : ''}`, id: `face-${face.number}-shortfalls` },
            el('span', { class: 'shortfall-box__title', text: below ? 'Why it is under the floor:' : 'Weaker points:' }),
            el('ul', { class: 'shortfalls' }, ...shortfalls.map((reason) => el('li', { text: visibleText(reason) }))));
    }
    return el('li', { class: 'face-item' }, button, reasons);
}

function selectFace(number) {
    if (!state.probe?.detection) {
        return;
    }
    state.probe.selected = number;
    const searched = state.results?.searchedFace;
    for (const button of document.querySelectorAll('#probe-faces [data-testid="probe-face"]')) {
        const on = Number(button.dataset.number) === number;
        button.setAttribute('aria-pressed', String(on));
        button.classList.toggle('face-choice--selected', on);
    }
    for (const box of document.querySelectorAll('#probe-boxes .face-box')) {
        const n = Number(box.dataset.number);
        const face = state.probe.detection.faces.find((f) => f.number === n);
        box.className = boxClass(face ?? {}, n === number, n === searched);
    }
    const refused = refusedFace();
    if (refused !== null && refused !== number) {
        hideRefusal();
    }
    updateSearchButton();
    const face = state.probe.detection.faces.find((f) => f.number === number);
    announce(`Face ${number} chosen${face?.belowFloor ? '; it is under the quality floor' : ''}.`);
}

function updateSearchButton() {
    const button = byId('search-submit');
    const hint = byId('search-submit-hint');
    const faces = state.probe?.detection?.faces ?? [];
    const waiting = retryUntil > Date.now();
    let label = 'Search';
    let note = '';
    let enabled = false;

    if (!can('search')) {
        note = 'Your role does not allow searching.';
    } else if (intake.cases !== null && intake.cases.length === 0) {
        note = 'You are not assigned to an open, authorised case.';
    } else if (busy.searching) {
        label = 'Searching…';
    } else if (!state.probe) {
        note = 'Choose a probe photo first.';
    } else if (busy.detecting) {
        label = 'Detecting faces…';
    } else if (!state.probe.detection) {
        note = 'The faces of this photo could not be read; choose another photo.';
    } else if (faces.length === 0) {
        note = 'No face to search in this photo.';
    } else if (waiting) {
        const seconds = Math.ceil((retryUntil - Date.now()) / 1000);
        label = `Try again in ${seconds} s`;
        note = 'Too many searches in a short time.';
    } else if (!byId('search-case').value) {
        note = 'Choose the case this search is for (step 1).';
    } else if (!selectedSource()) {
        note = 'Say what the probe photo is (step 1).';
    } else {
        enabled = true;
        const selected = state.probe.selected;
        const face = faces.find((f) => f.number === selected);
        label = face ? `Search face ${face.number}` : 'Search the most prominent face';
        if (face?.belowFloor) {
            note = `Face ${face.number} is under the quality floor: the server will refuse it unless you then give a reason.`;
        }
    }
    button.textContent = label;
    button.disabled = !enabled;
    hint.textContent = note;
    hint.hidden = !note;
}

function readFilters() {
    const top = byId('filter-top');
    const from = byId('filter-captured-from').value;
    const to = byId('filter-captured-to').value;
    if (from && to && from > to) {
        const input = byId('filter-captured-to');
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        throw new Error('“Captured to” is before “Captured from”.');
    }
    const topValue = Number(top.value || 10);
    if (!Number.isInteger(topValue) || topValue < 1 || topValue > 100) {
        top.setAttribute('aria-invalid', 'true');
        top.focus();
        throw new Error('Candidates (top K) must be a whole number from 1 to 100.');
    }
    const jurisdictionInput = byId('filter-jurisdiction');
    const jurisdiction = jurisdictionInput.value.trim().toUpperCase();
    if (jurisdiction && !/^[A-Z]{2}(-[A-Z0-9]{1,3})?$/.test(jurisdiction)) {
        jurisdictionInput.setAttribute('aria-invalid', 'true');
        jurisdictionInput.focus();
        throw new Error('Jurisdiction must be an ISO 3166 code such as DE, GB or US-IL.');
    }
    const caseNumber = byId('search-case').value;
    if (!caseNumber) {
        byId('search-case').setAttribute('aria-invalid', 'true');
        byId('search-case').focus();
        throw new Error('Choose the case this search is for.');
    }
    const source = selectedSource();
    if (!source) {
        byId('search-source').setAttribute('aria-invalid', 'true');
        byId('search-source').querySelector('input')?.focus();
        throw new Error('Say what the probe photo is.');
    }
    return {
        case: caseNumber,
        source,
        top: topValue,
        collection: byId('filter-collection').value,
        jurisdiction,
        domain: byId('filter-domain').value.trim().toLowerCase(),
        capturedFrom: from,
        capturedTo: to,
    };
}

async function runSearch({ overrideQuality = null, face = undefined } = {}) {
    if (!state.probe?.file || !state.probe.detection) {
        announceError('Choose a probe photo first.');
        byId('dropzone').focus();
        return;
    }
    if (busy.searching || busy.detecting) {
        return;
    }
    let filters;
    try {
        filters = readFilters();
    } catch (error) {
        announceError(error.message);
        return;
    }
    const faceNumber = face === undefined ? state.probe.selected : face;
    const file = state.probe.file;

    const controller = new AbortController();
    searchAbort = controller;
    busy.searching = true;
    updateSearchButton();
    byId('override-submit').disabled = true;
    hideProblem();
    hideIntakeRefusal();
    byId('search-result').hidden = true;
    byId('results-empty').hidden = true;
    byId('results-busy').hidden = false;
    byId('results').setAttribute('aria-busy', 'true');
    announce('Searching…', { sticky: true });

    try {
        const response = await search(file, { ...filters, face: faceNumber, overrideQuality }, controller.signal);
        if (state.probe?.file !== file) {
            return;
        }
        state.results = response;
        clearCandidateCache();
        if (Array.isArray(response.probeFaces) && response.probeFaces.length) {
            state.probe.detection.faces = response.probeFaces;
        }
        // The searched face is marked in the list; the analyst's own choice is left as it was, so that a later search
        // without a choice is still recorded as the server's choice.
        renderFaces();
        renderResults(response);
        announce(resultsAnnouncement(response), { sticky: true });
        focusAndReveal(byId('results-heading'));
    } catch (error) {
        if (error?.name === 'AbortError' || state.probe?.file !== file) {
            return;
        }
        handleSearchError(error);
    } finally {
        if (searchAbort === controller) {
            searchAbort = null;
            busy.searching = false;
            byId('results-busy').hidden = true;
            byId('results').setAttribute('aria-busy', 'false');
            byId('override-submit').disabled = false;
            updateSearchButton();
        }
    }
}

/** A 403 "Search refused" from intake (case, authorisation, clearance or attestation), with its refusal code. */
function isIntakeRefusal(error) {
    return error.status === 403 && typeof error.problem?.refusal === 'string';
}

function isQualityRefusal(error) {
    const problem = error.problem ?? {};
    return error.status === 422 && (/quality/i.test(problem.title ?? '') || (problem.face && problem.floor !== undefined));
}

function handleSearchError(error) {
    if (!(error instanceof ApiError)) {
        showProblem('The search failed', describeError(error));
        announceError(describeError(error));
        return;
    }
    if (error.status === 401) {
        return; // back to sign-in
    }
    if (isIntakeRefusal(error)) {
        const problem = error.problem;
        showIntakeRefusal(problem, refusalHelp(problem.refusal));
        announceError(sentence(problem.title || 'Search refused', problem.detail));
        focusAndReveal(byId('intake-refusal-title'));
        if (CASE_REFUSALS.has(problem.refusal)) {
            loadSearchIntake();
        }
        return;
    }
    if (isQualityRefusal(error)) {
        const problem = error.problem;
        if (Array.isArray(problem.probeFaces) && problem.probeFaces.length && state.probe?.detection) {
            state.probe.detection.faces = problem.probeFaces;
        }
        if (problem.face && Number.isFinite(problem.face.number)) {
            state.probe.selected = problem.face.number;
        }
        renderFaces();
        showRefusal(problem);
        announceError(sentence(problem.title || 'Probe quality under the floor', problem.detail));
        focusAndReveal(byId('refusal-title'));
        return;
    }
    if (error.status === 429) {
        startRetryCountdown(error.retryAfter ?? 60);
    }
    showProblem(error.title, error.detail);
    announceError(describeError(error));
}

function startRetryCountdown(seconds) {
    retryUntil = Date.now() + seconds * 1000;
    window.clearInterval(retryTimer);
    retryTimer = window.setInterval(() => {
        if (Date.now() >= retryUntil) {
            window.clearInterval(retryTimer);
            retryUntil = 0;
        }
        updateSearchButton();
    }, 1000);
    updateSearchButton();
}
