// Hash routes. Every page of the UI is one entry below: its hash, the view (section) that shows it, and the permission
// that opens it (the same names GET /api/auth/me lists and the server enforces; the UI only hides what would be refused).

import { can } from './state.js';

/** The pages in the order the navigation lists them; `nav`: the link that marks itself current on this page. */
export const PAGES = [
    { name: 'search', view: 'search-view', permission: 'search', nav: 'nav-search' },
    { name: 'image', view: 'candidate-view', permission: 'gallery.read', nav: 'nav-search' },
    { name: 'cases', view: 'cases-view', permission: 'cases.read', nav: 'nav-cases' },
    { name: 'case', view: 'case-view', permission: 'cases.read', nav: 'nav-cases' },
    { name: 'review', view: 'review-view', permission: 'review', nav: 'nav-review' },
    { name: 'oversight', view: 'oversight-view', permission: 'oversight', nav: 'nav-oversight' },
    { name: 'reports', view: 'reports-view', permission: 'reports', nav: 'nav-reports' },
    { name: 'retention', view: 'retention-view', permission: 'retention', nav: 'nav-retention' },
    { name: 'optouts', view: 'optouts-view', permission: 'optout', nav: 'nav-optouts' },
    { name: 'network', view: 'network-view', permission: 'network', nav: 'nav-network' },
    { name: 'identity', view: 'identity-view', permission: 'network', nav: 'nav-network' },
    { name: 'signin', view: 'signin-view', permission: null, nav: null },
];

const SIMPLE = {
    '/search': 'search',
    '/cases': 'cases',
    '/review': 'review',
    '/oversight': 'oversight',
    '/reports': 'reports',
    '/retention': 'retention',
    '/optouts': 'optouts',
    '/network': 'network',
    '/signin': 'signin',
};

export function page(name) {
    return PAGES.find((p) => p.name === name) ?? null;
}

/** { name, ...params } for a hash; name 'home' for the bare address, 'unknown' for anything else. */
export function parseRoute(hash = location.hash) {
    const raw = hash.replace(/^#/, '');
    const [path, query = ''] = raw.split('?');
    const params = new URLSearchParams(query);
    if (path === '' || path === '/') {
        return { name: 'home' };
    }
    if (SIMPLE[path]) {
        return { name: SIMPLE[path], params };
    }
    const image = /^\/images\/([^/]+)$/.exec(path);
    if (image) {
        return { name: 'image', imageId: decodeURIComponent(image[1]), faceId: params.get('face') };
    }
    const found = /^\/cases\/(\d{1,18})$/.exec(path);
    if (found) {
        return { name: 'case', caseId: found[1] };
    }
    const identity = /^\/identities\/(\d{1,18})$/.exec(path);
    if (identity) {
        return { name: 'identity', identityId: identity[1], caseNumber: params.get('case') ?? '', params };
    }
    return { name: 'unknown' };
}

/** Whether the signed-in user may open the page. */
export function allowed(name) {
    const entry = page(name);
    return Boolean(entry) && (!entry.permission || can(entry.permission));
}

/** Where a signed-in user lands: the search when they may search, else the first page their role opens. */
export function homeHash() {
    if (can('search')) {
        return '#/search';
    }
    const first = ['review', 'cases', 'oversight', 'reports', 'retention', 'optouts', 'network'].find(allowed);
    return first ? `#/${first}` : '#/search';
}

let onChange = () => {};

export function startRouter(handler) {
    onChange = handler;
    window.addEventListener('hashchange', () => onChange());
}

/** Goes to a hash; the same hash again re-enters its page (a refresh). */
export function go(hash, { replace = false } = {}) {
    if (location.hash === hash) {
        onChange();
    } else if (replace) {
        location.replace(hash);
    } else {
        location.hash = hash;
    }
}
