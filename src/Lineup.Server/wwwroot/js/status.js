// The page's live region (#status): one short line for progress, outcomes and errors, read out by screen readers.

import { byId } from './dom.js';

let clearTimer = null;

function region() {
    return byId('status');
}

/** A progress or outcome line. `sticky`: keep it until replaced (otherwise it fades after a while). */
export function announce(message, { sticky = false } = {}) {
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

/** An error line; stays until the next message. */
export function announceError(message) {
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
