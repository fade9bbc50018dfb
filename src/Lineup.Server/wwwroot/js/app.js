// Entry point: session, header and hash routing (#/signin, #/search, #/images/{imageId}?face={faceId}).

import { events, fetchMe, signOut } from './api.js';
import { byId } from './dom.js';
import { enterCandidate, initCandidate, leaveCandidate } from './candidate.js';
import { enterSearch, initSearch, resetSearch } from './search.js';
import { enterSignin, initSignin } from './signin.js';
import { state, resetSession } from './state.js';
import { announce, announceError, describeError } from './status.js';

const VIEWS = { signin: 'signin-view', search: 'search-view', image: 'candidate-view' };
let current = null;

export function parseRoute(hash = location.hash) {
    const raw = hash.replace(/^#/, '');
    const [path, query = ''] = raw.split('?');
    const params = new URLSearchParams(query);
    if (path === '/signin') {
        return { name: 'signin' };
    }
    if (path === '' || path === '/' || path === '/search') {
        return { name: 'search' };
    }
    const image = /^\/images\/([^/]+)$/.exec(path);
    if (image) {
        return { name: 'image', imageId: decodeURIComponent(image[1]), faceId: params.get('face') };
    }
    return { name: 'unknown' };
}

function go(hash, { replace = false } = {}) {
    if (location.hash === hash) {
        route();
    } else if (replace) {
        location.replace(hash);
    } else {
        location.hash = hash;
    }
}

function showView(name) {
    for (const [view, id] of Object.entries(VIEWS)) {
        byId(id).hidden = view !== name;
    }
    byId('lead-banner').hidden = !state.me;
    const navSearch = byId('nav-search');
    if (name === 'search' || name === 'image') {
        navSearch.setAttribute('aria-current', 'page');
    } else {
        navSearch.removeAttribute('aria-current');
    }
}

function route() {
    const next = parseRoute();
    if (!state.me && next.name !== 'signin') {
        state.afterSignIn = location.hash && location.hash !== '#/signin' ? location.hash : '#/search';
        go('#/signin', { replace: true });
        return;
    }
    if (state.me && next.name === 'signin') {
        go('#/search', { replace: true });
        return;
    }
    if (next.name === 'unknown') {
        go('#/search', { replace: true });
        return;
    }

    const previous = current;
    current = next;
    if (previous?.name === 'image' && next.name !== 'image') {
        leaveCandidate();
    }
    showView(next.name);
    if (next.name === 'signin') {
        enterSignin();
    } else if (next.name === 'search') {
        enterSearch({ fromCandidate: previous?.name === 'image' });
    } else if (next.name === 'image') {
        enterCandidate(next, { fromSearch: previous?.name === 'search' });
    }
}

function renderUser() {
    const me = state.me;
    byId('user-box').hidden = !me;
    byId('main-nav').hidden = !me;
    byId('lead-banner').hidden = !me;
    byId('current-user').textContent = me?.name ?? '';
    const display = me?.displayName && me.displayName !== me.name ? me.displayName : '';
    byId('current-display').textContent = display;
    byId('current-display').hidden = !display;
    const roles = Array.isArray(me?.roles) ? me.roles : [];
    byId('current-roles').textContent = roles.length ? roles.join(', ') : '';
    byId('current-roles').hidden = !roles.length;
    byId('current-roles').setAttribute('aria-label', `Roles: ${roles.join(', ')}`);
}

function signedIn(me) {
    state.me = me;
    renderUser();
    const target = state.afterSignIn && state.afterSignIn !== '#/signin' ? state.afterSignIn : '#/search';
    state.afterSignIn = '#/search';
    go(target);
}

function signedOut(message, { error = false } = {}) {
    resetSession();
    resetSearch();
    renderUser();
    if (error) {
        announceError(message);
    } else {
        announce(message);
    }
    go('#/signin', { replace: true });
}

async function start() {
    initSignin(signedIn);
    initSearch();
    initCandidate({ back: () => go('#/search') });

    byId('skip-link').addEventListener('click', () => byId('main').focus());
    byId('signout').addEventListener('click', async () => {
        const button = byId('signout');
        button.disabled = true;
        try {
            await signOut();
        } catch {
            // Signed out locally whatever the server said; the cookie expires on its own.
        } finally {
            button.disabled = false;
        }
        signedOut('Signed out.');
    });

    events.addEventListener('unauthorized', () => {
        if (!state.me) {
            return;
        }
        state.afterSignIn = location.hash || '#/search';
        const keep = state.afterSignIn;
        signedOut('Your session has ended. Sign in again to continue.', { error: true });
        state.afterSignIn = keep;
    });

    try {
        state.me = await fetchMe();
    } catch (error) {
        announceError(describeError(error));
        state.me = null;
    }
    renderUser();
    window.addEventListener('hashchange', route);
    route();
}

start();
