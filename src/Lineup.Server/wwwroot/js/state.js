// What the page keeps in memory between views: the signed-in user, the probe and the last search's answer (so that
// going back from a candidate never searches again). Nothing is written to storage.

export const state = {
    /** Me = { name, displayName, roles, permissions } or null. */
    me: null,
    /** { file, url, detection: { probe, qualityFloor, faces }, selected: face number or null } or null. */
    probe: null,
    /** The last SearchResponse, or null. */
    results: null,
    /** The face id of the candidate last opened, to put the focus back on its card. */
    lastOpenedFaceId: null,
    /** Where to go after signing in ('' for the user's home page). */
    afterSignIn: '',
};

export function can(permission) {
    const permissions = state.me?.permissions;
    return !Array.isArray(permissions) || permissions.includes(permission);
}

export function resetSession() {
    if (state.probe?.url) {
        URL.revokeObjectURL(state.probe.url);
    }
    state.me = null;
    state.probe = null;
    state.results = null;
    state.lastOpenedFaceId = null;
}
