// The one way the UI talks to the Lineup server: same-origin fetch with the session cookie, the anti-forgery
// token on every unsafe request, and every failure turned into an ApiError built from the ProblemDetails body.

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Fired on `events`: 'unauthorized' (a 401 outside sign-in). */
export const events = new EventTarget();

/** A failed request: `title` and `detail` are plain words fit to show; `problem` is the raw ProblemDetails body. */
export class ApiError extends Error {
    constructor({ status, title, detail = null, problem = null, retryAfter = null }) {
        super(detail ? `${title}. ${detail}` : title);
        this.name = 'ApiError';
        this.status = status;
        this.title = title;
        this.detail = detail;
        this.problem = problem;
        this.retryAfter = retryAfter;
    }
}

let antiforgery = null; // { headerName, token }
let antiforgeryPending = null;

/** Forgets the anti-forgery token; the next unsafe request fetches a fresh one (after sign-in and sign-out). */
export function forgetAntiforgery() {
    antiforgery = null;
    antiforgeryPending = null;
}

async function ensureAntiforgery() {
    if (antiforgery) {
        return antiforgery;
    }
    if (!antiforgeryPending) {
        antiforgeryPending = (async () => {
            const body = await request('/api/auth/antiforgery', { quiet401: true });
            if (!body || typeof body.token !== 'string') {
                throw new ApiError({ status: 0, title: 'The server sent no anti-forgery token' });
            }
            antiforgery = { headerName: body.headerName || 'X-XSRF-TOKEN', token: body.token };
            return antiforgery;
        })().finally(() => {
            antiforgeryPending = null;
        });
    }
    return antiforgeryPending;
}

async function readProblem(response) {
    const type = response.headers.get('content-type') || '';
    if (!type.includes('json')) {
        return null;
    }
    try {
        const body = await response.json();
        return body && typeof body === 'object' ? body : null;
    } catch {
        return null;
    }
}

/** Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); null when absent. */
export function parseRetryAfter(value) {
    if (!value) {
        return null;
    }
    const trimmed = value.trim();
    if (/^\d+$/.test(trimmed)) {
        return Number(trimmed);
    }
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) {
        return null;
    }
    return Math.max(1, Math.ceil((at - Date.now()) / 1000));
}

function looksLikeAntiforgeryFailure(problem) {
    const text = `${problem?.title ?? ''} ${problem?.detail ?? ''}`;
    return /forgery|xsrf|csrf/i.test(text);
}

function text(value) {
    return typeof value === 'string' && value.trim() ? value.trim() : null;
}

function toError(status, statusText, problem, retryAfterHeader) {
    const title = text(problem?.title);
    const detail = text(problem?.detail);
    // A refusal the server explains (a search refused at intake, a decision refused by the two-person rule) keeps its
    // own title; a plain 403 is about the caller's role.
    if (status === 403 && title && title !== 'Forbidden' && (problem?.refusal || problem?.code)) {
        return new ApiError({ status, title, detail, problem });
    }
    if (status === 403) {
        return new ApiError({
            status,
            title: 'Your role does not allow this',
            detail: detail ?? (title && title !== 'Forbidden' ? title : null),
            problem,
        });
    }
    if (status === 429) {
        const seconds = parseRetryAfter(retryAfterHeader) ?? 60;
        return new ApiError({
            status,
            title: `Too many searches; try again in ${seconds} s`,
            detail,
            problem,
            retryAfter: seconds,
        });
    }
    if (status === 401) {
        return new ApiError({ status, title: title ?? 'You are not signed in', detail, problem });
    }
    return new ApiError({
        status,
        title: title ?? `The server answered ${status}${statusText ? ` ${statusText}` : ''}`,
        detail,
        problem,
    });
}

/**
 * Sends one request. Options: method, json (a body sent as JSON), form (a FormData), signal, quiet401 (a 401 is the
 * caller's business: no 'unauthorized' event). Returns the parsed JSON body, null for 204, or the Response for other
 * content types. Throws ApiError.
 */
export async function request(path, options = {}) {
    const { method = 'GET', json, form, signal, quiet401 = false } = options;
    const headers = { Accept: 'application/json, application/problem+json;q=0.9' };
    let body;
    if (json !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(json);
    } else if (form) {
        body = form;
    }
    if (UNSAFE.has(method)) {
        const token = await ensureAntiforgery();
        headers[token.headerName] = token.token;
    }

    let response;
    try {
        response = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store', signal });
    } catch (error) {
        if (error?.name === 'AbortError') {
            throw error;
        }
        throw new ApiError({
            status: 0,
            title: 'Cannot reach the Lineup server',
            detail: 'Check the connection and try again.',
        });
    }

    if (response.ok) {
        if (response.status === 204) {
            return null;
        }
        const type = response.headers.get('content-type') || '';
        return type.includes('json') ? response.json() : response;
    }

    const problem = await readProblem(response);

    // A stale or missing anti-forgery token (e.g. after the session changed in another tab): fetch a fresh one and
    // send once more. Only for an explicit anti-forgery failure, so that a refused search is never sent twice.
    if (UNSAFE.has(method) && response.status === 400 && !options.retried && looksLikeAntiforgeryFailure(problem)) {
        forgetAntiforgery();
        return request(path, { ...options, retried: true });
    }

    if (response.status === 401 && !quiet401) {
        events.dispatchEvent(new Event('unauthorized'));
    }
    throw toError(response.status, response.statusText, problem, response.headers.get('Retry-After'));
}

export const get = (path, options = {}) => request(path, { ...options, method: 'GET' });
export const post = (path, options = {}) => request(path, { ...options, method: 'POST' });

// --- The calls the UI makes --------------------------------------------------------------------------------------

/** The signed-in user, or null when nobody is signed in. */
export async function fetchMe() {
    try {
        return await get('/api/auth/me', { quiet401: true });
    } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
            return null;
        }
        throw error;
    }
}

export async function signIn(userName, password) {
    forgetAntiforgery();
    const me = await post('/api/auth/signin', { json: { userName, password }, quiet401: true });
    // The token is bound to the user: take a fresh one for what follows.
    forgetAntiforgery();
    const current = me && typeof me === 'object' && me.name ? me : await fetchMe();
    ensureAntiforgery().catch(() => {});
    return current;
}

export async function signOut() {
    try {
        await post('/api/auth/signout', { quiet401: true });
    } finally {
        forgetAntiforgery();
    }
}

export const fetchCollections = () => get('/api/collections');

export function detectFaces(file, signal) {
    const form = new FormData();
    form.append('photo', file, file.name || 'probe');
    return post('/api/search/faces', { form, signal });
}

/**
 * fields: { case, source, top, face, collection, jurisdiction, domain, capturedFrom, capturedTo, overrideQuality }; empty
 * ones are left out.
 */
export function search(file, fields, signal) {
    const form = new FormData();
    form.append('photo', file, file.name || 'probe');
    for (const [name, value] of Object.entries(fields)) {
        if (value !== null && value !== undefined && String(value).trim() !== '') {
            form.append(name, String(value).trim());
        }
    }
    return post('/api/search', { form, signal });
}

export const fetchImage = (imageId, signal) => get(`/api/images/${encodeURIComponent(imageId)}`, { signal });

/** Only server-relative API paths are used as image sources; anything else falls back to the known route. */
export function apiPath(url, fallback) {
    return typeof url === 'string' && url.startsWith('/api/') && !url.startsWith('//') ? url : fallback;
}

// --- Oversight: cases, intake rules, review, retention, opt-outs, reports, activity and audit -----------------------

const id = (value) => encodeURIComponent(String(value));

export const fetchCases = (signal) => get('/api/cases', { signal });
export const fetchCase = (caseId, signal) => get(`/api/cases/${id(caseId)}`, { signal });
export const fetchCaseSearches = (caseId, signal) => get(`/api/cases/${id(caseId)}/searches`, { signal });
export const fetchIntake = (signal) => get('/api/intake', { signal });
/** Enabled users a case manager may assign, with roles and whether their clearance is current. */
export const fetchAssignableUsers = (signal) => get('/api/cases/assignable-users', { signal });

/** newCase: { number, offence, purpose, authorisationReference, authorisedUntil (ISO 8601) }. */
export const openCase = (newCase) => post('/api/cases', { json: newCase });
export const assignCase = (caseId, user) => post(`/api/cases/${id(caseId)}/assign`, { json: { user } });
export const unassignCase = (caseId, user) => post(`/api/cases/${id(caseId)}/unassign`, { json: { user } });
export const closeCase = (caseId) => post(`/api/cases/${id(caseId)}/close`);
export const reauthoriseCase = (caseId, reference, until) => post(`/api/cases/${id(caseId)}/reauthorise`, { json: { reference, until } });
export const holdCase = (caseId, hold, reason) => post(`/api/cases/${id(caseId)}/hold`, { json: { hold, reason } });

export const fetchReviewQueue = (signal) => get('/api/reviews', { signal });
export const fetchSearchCandidates = (searchId, signal) => get(`/api/searches/${id(searchId)}/candidates`, { signal });
/** decision: 'confirm' or 'reject' (a rejection needs a reason). */
export const decideCandidate = (searchId, rank, decision, reason) =>
    post(`/api/searches/${id(searchId)}/candidates/${id(rank)}/decision`, { json: { decision, reason: reason || null } });
export const probeUrl = (searchId) => `/api/searches/${id(searchId)}/probe`;
/** The faces of a search's stored probe and which one was searched ({ probe, faces, searchedFace }). */
export const fetchProbeFaces = (searchId, signal) => get(`/api/searches/${id(searchId)}/probe/faces`, { signal });

export const fetchRetention = (signal) => get('/api/retention', { signal });
export const setRetention = (dataClass, ttlDays) => request(`/api/retention/${id(dataClass)}`, { method: 'PUT', json: { ttlDays } });
export const sweepRetention = () => post('/api/retention/sweep');

/** The supervisor view; from and to (ISO 8601) may be null for the server's default period (the last 30 days). */
export function fetchActivity(from, to, signal) {
    const query = new URLSearchParams();
    if (from) {
        query.set('from', from);
    }
    if (to) {
        query.set('to', to);
    }
    const text = query.toString();
    return get(`/api/oversight/activity${text ? `?${text}` : ''}`, { signal });
}

export const fetchAuditStatus = (signal) => get('/api/audit/status', { signal });
export const reportUrl = (caseId, format) => `/api/cases/${id(caseId)}/report.${format === 'pdf' ? 'pdf' : 'json'}`;

export const fetchOptOuts = (signal) => get('/api/optouts', { signal });

/** An opt-out request: its reference, an optional note and 1–10 photos of the person (each in the field `photos`). */
export function recordOptOut(reference, note, files) {
    const form = new FormData();
    form.append('reference', reference);
    if (note) {
        form.append('note', note);
    }
    for (const file of files) {
        form.append('photos', file, file.name || 'photo');
    }
    return post('/api/optouts', { form });
}

// --- Network analysis: identities, the co-appearance graph and its evidence (each query names its case) -------------

/** A network path with the case (and other parameters) in its query string; empty values are left out. */
function networkPath(path, caseNumber, params = {}) {
    const query = new URLSearchParams();
    if (caseNumber) {
        query.set('case', caseNumber);
    }
    for (const [name, value] of Object.entries(params)) {
        if (value !== null && value !== undefined && value !== '') {
            query.set(name, String(value));
        }
    }
    const text = query.toString();
    return `/api/network${path}${text ? `?${text}` : ''}`;
}

/** Where the identity partition stands (no case, no person data). */
export const fetchNetworkStatus = (signal) => get('/api/network/status', { signal });
/** { identities: IdentityDto[] }, the most faces first. */
export const fetchIdentities = (caseNumber, { minFaces = 1, limit = 50, offset = 0 } = {}, signal) =>
    get(networkPath('/identities', caseNumber, { minFaces, limit, offset }), { signal });
/** { identity, faces, timeline }. */
export const fetchIdentity = (identityId, caseNumber, signal) => get(networkPath(`/identities/${id(identityId)}`, caseNumber), { signal });
/** The identity a gallery face was clustered into (404 when it is not clustered yet). */
export const fetchIdentityOfFace = (faceId, caseNumber, signal) => get(networkPath(`/faces/${id(faceId)}/identity`, caseNumber), { signal });
/** { identity, hops, associates, graph: { nodes, edges } }; hops 1 or 2. */
export const fetchAssociates = (identityId, caseNumber, hops, signal) =>
    get(networkPath(`/identities/${id(identityId)}/associates`, caseNumber, { hops }), { signal });
/** An edge with its evidence (404 when the two were never seen together). */
export const fetchEdge = (a, b, caseNumber, signal) => get(networkPath(`/edges/${id(a)}/${id(b)}`, caseNumber), { signal });
/** Names an identity (a blank name clears it); answers the identity. */
export const nameIdentity = (identityId, caseNumber, name) =>
    request(`/api/network/identities/${id(identityId)}/name`, { method: 'PUT', json: { case: caseNumber, name } });
/** The download address of the graph as GraphML or GEXF: the whole graph, or an identity's neighbourhood. */
export const networkExportUrl = (caseNumber, format, identityId = null, hops = null) =>
    networkPath('/export', caseNumber, { format, identity: identityId, hops: identityId === null ? null : hops });
