// Entry point: session, header, navigation by permission and the hash routes of router.js.

import { events, fetchMe, signOut } from './api.js';
import { enterCandidate, initCandidate, leaveCandidate } from './candidate.js';
import { enterCase, enterCases, initCases, resetCases } from './cases.js';
import { byId, el } from './dom.js';
import { enterIdentity, initIdentity, leaveIdentity, resetIdentity } from './identity.js';
import { enterNetwork, initNetwork, resetNetwork } from './network.js';
import { enterOptOuts, initOptOuts, resetOptOuts } from './optouts.js';
import { enterOversight, initOversight, resetOversight } from './oversight.js';
import { enterReports, initReports, resetReports } from './reports.js';
import { enterRetention, initRetention, resetRetention } from './retention.js';
import { enterReview, initReview, leaveReview, resetReview } from './review.js';
import { PAGES, allowed, go, homeHash, page, parseRoute, startRouter } from './router.js';
import { enterSearch, initSearch, resetSearch } from './search.js';
import { enterSignin, initSignin } from './signin.js';
import { resetSession, state } from './state.js';
import { announce, announceError, describeError } from './status.js';

/** What each page does when it is entered (and left). `from`: the name of the page shown before. */
const HANDLERS = {
    signin: { enter: () => enterSignin() },
    search: { enter: (route, from) => enterSearch({ fromCandidate: from === 'image' || from === 'identity' }) },
    image: { enter: (route, from) => enterCandidate(route, { fromSearch: from === 'search' }), leave: leaveCandidate },
    cases: { enter: (route) => enterCases(route) },
    case: { enter: (route) => enterCase(route) },
    review: { enter: (route) => enterReview(route), leave: leaveReview },
    oversight: { enter: (route) => enterOversight(route) },
    reports: { enter: (route) => enterReports(route) },
    retention: { enter: (route) => enterRetention(route) },
    optouts: { enter: (route) => enterOptOuts(route) },
    network: { enter: (route) => enterNetwork(route) },
    identity: { enter: (route, from) => enterIdentity(route, from), leave: leaveIdentity },
};

/** The pages about candidates carry the "lead, not an identification" banner. */
const BANNER = new Set(['search', 'image', 'review', 'case', 'identity']);

let current = null;
/** The hash to go back to from a gallery image (the results, or the review queue). */
let returnHash = '#/search';

function showView(name) {
    const shown = page(name);
    for (const entry of PAGES) {
        const view = byId(entry.view);
        if (view) {
            view.hidden = entry.view !== shown?.view;
        }
    }
    byId('lead-banner').hidden = !state.me || !BANNER.has(name);
    for (const link of byId('main-nav').querySelectorAll('a')) {
        if (link.id === shown?.nav) {
            link.setAttribute('aria-current', 'page');
        } else {
            link.removeAttribute('aria-current');
        }
    }
}

function route() {
    const next = parseRoute();
    if (!state.me && next.name !== 'signin') {
        state.afterSignIn = location.hash && location.hash !== '#/signin' ? location.hash : '';
        go('#/signin', { replace: true });
        return;
    }
    if (state.me && (next.name === 'signin' || next.name === 'home' || next.name === 'unknown')) {
        go(homeHash(), { replace: true });
        return;
    }
    if (state.me && !allowed(next.name)) {
        announceError('Your role does not open that page.', { holdMs: 5000 });
        go(homeHash(), { replace: true });
        return;
    }

    const previous = current;
    current = next;
    if (previous && previous.name !== next.name) {
        HANDLERS[previous.name]?.leave?.();
    }
    if (next.name === 'image' && previous?.name !== 'image') {
        const [hash, label] = previous?.name === 'review'
            ? ['#/review', 'Back to the review queue']
            : previous?.name === 'case'
                ? [`#/cases/${previous.caseId}`, 'Back to the case']
                : previous?.name === 'identity'
                    ? [`#/identities/${encodeURIComponent(previous.identityId)}?case=${encodeURIComponent(previous.caseNumber ?? '')}`, 'Back to the identity']
                    : ['#/search', 'Back to results'];
        returnHash = hash;
        byId('back-to-results').replaceChildren(el('span', { 'aria-hidden': 'true', text: '←' }), ` ${label}`);
    }
    showView(next.name);
    HANDLERS[next.name]?.enter(next, previous?.name ?? null);
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
    renderNav();
}

/** One link per page the user's permissions open; none of the others is shown. */
function renderNav() {
    for (const link of byId('main-nav').querySelectorAll('a[data-page]')) {
        link.hidden = !state.me || !allowed(link.dataset.page);
    }
}

function signedIn(me) {
    state.me = me;
    renderUser();
    const target = state.afterSignIn && state.afterSignIn !== '#/signin' && allowed(parseRoute(state.afterSignIn).name)
        ? state.afterSignIn
        : homeHash();
    state.afterSignIn = '';
    go(target);
}

function signedOut(message, { error = false } = {}) {
    resetSession();
    resetSearch();
    resetCases();
    resetReview();
    resetOversight();
    resetReports();
    resetRetention();
    resetOptOuts();
    resetNetwork();
    resetIdentity();
    current = null;
    renderUser();
    if (error) {
        announceError(message);
    } else {
        announce(message, { force: true });
    }
    go('#/signin', { replace: true });
}

async function start() {
    initSignin(signedIn);
    initSearch();
    initCandidate({ back: () => go(returnHash) });
    initCases();
    initReview();
    initOversight();
    initReports();
    initRetention();
    initOptOuts();
    initNetwork();
    initIdentity();

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
        const keep = location.hash || '';
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
    startRouter(route);
    route();
}

start();
