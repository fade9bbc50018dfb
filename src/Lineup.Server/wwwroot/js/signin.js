// The sign-in page: user name and password, a plain error on failure.

import { ApiError, signIn } from './api.js';
import { byId } from './dom.js';
import { announce, announceError, describeError, sentence } from './status.js';

let onSignedIn = () => {};

export function initSignin(handler) {
    onSignedIn = handler;
    byId('signin-form').addEventListener('submit', submit);
}

export function enterSignin() {
    document.title = 'Sign in — Lineup';
    showError(null);
    const password = byId('password');
    password.value = '';
    const user = byId('username');
    (user.value ? password : user).focus();
}

function showError(message) {
    const box = byId('signin-error');
    box.textContent = message || '';
    box.hidden = !message;
    for (const id of ['username', 'password']) {
        const input = byId(id);
        if (message) {
            input.setAttribute('aria-describedby', 'signin-error');
            input.setAttribute('aria-invalid', 'true');
        } else {
            input.removeAttribute('aria-describedby');
            input.removeAttribute('aria-invalid');
        }
    }
}

async function submit(event) {
    event.preventDefault();
    const userInput = byId('username');
    const passwordInput = byId('password');
    const button = byId('signin-submit');
    const userName = userInput.value.trim();
    const password = passwordInput.value;
    if (!userName || !password) {
        const message = !userName ? 'Enter your user name.' : 'Enter your password.';
        showError(message);
        announceError(message);
        (!userName ? userInput : passwordInput).focus();
        return;
    }

    button.disabled = true;
    button.textContent = 'Signing in…';
    showError(null);
    announce('Signing in…', { sticky: true });
    try {
        const me = await signIn(userName, password);
        passwordInput.value = '';
        announce(`Signed in as ${me?.name ?? userName}.`);
        onSignedIn(me);
    } catch (error) {
        let message;
        if (error instanceof ApiError && error.status === 401) {
            message = sentence(error.title || 'Sign-in failed', error.detail || 'The user name or password is not right.');
        } else {
            message = describeError(error);
        }
        showError(message);
        announceError(message);
        passwordInput.value = '';
        passwordInput.focus();
    } finally {
        button.disabled = false;
        button.textContent = 'Sign in';
    }
}
