// The page's live region (#status): one short line for progress, outcomes and errors, read out by screen readers.

import { byId } from './dom.js';

let clearTimer = null;
/** Until when a held error stays in place of routine lines (a page's "3 cases." must not bury why the user was sent there). */
let heldUntil = 0;

function region() {
    return byId('status');
}

/**
 * A progress or outcome line. `sticky`: keep it until replaced (otherwise it fades after a while); `force`: show it even
 * while an error is held.
 */
export function announce(message, { sticky = false, force = false } = {}) {
    // Progress lines (sticky) answer the user's own action and always show; routine ones wait for a held error.
    if (message && !sticky && !force && Date.now() < heldUntil) {
        return;
    }
    heldUntil = 0;
    const node = region();
    window.clearTimeout(clearTimer);
    node.classList.remove('status-bar--error');
    node.textContent = message || '';
    if (message && !sticky) {
        clearTimer = window.setTimeout(() => {
            if (node.textContent === message) {
                node.textContent = '';
            }
        }, 12000);
    }
}

/** An error line; stays until the next message (`holdMs`: routine lines do not replace it for that long). */
export function announceError(message, { holdMs = 0 } = {}) {
    heldUntil = holdMs > 0 ? Date.now() + holdMs : 0;
    const node = region();
    window.clearTimeout(clearTimer);
    node.classList.add('status-bar--error');
    node.textContent = message;
}

export function clearStatus() {
    announce('');
}

/** "Title. Detail" for an error of any kind, in plain words. */
export function describeError(error) {
    if (error && typeof error.title === 'string') {
        return sentence(error.title, error.detail);
    }
    return 'Something went wrong. Try again, and tell your administrator if it keeps happening.';
}

/** Joins a title and a detail into one line without doubling the full stop. */
export function sentence(title, detail) {
    if (!detail) {
        return title;
    }
    return `${title.replace(/[.\s]+$/, '')}. ${detail}`;
}
