// The intake rules (GET /api/intake: the offences cases may be opened for, the probe sources a search may attest), read
// once per session, and the words the UI uses for sources and intake refusals.

import { fetchIntake } from './api.js';

let pending = null;

/** { offences: string[], probeSources: [{ name, description, accepted }] }; fetched once per session. */
export function loadIntake() {
    if (!pending) {
        pending = fetchIntake().then((rules) => ({
            offences: Array.isArray(rules?.offences) ? rules.offences.map(String) : [],
            probeSources: Array.isArray(rules?.probeSources) ? rules.probeSources : [],
        }));
        pending.catch(() => {
            pending = null;
        });
    }
    return pending;
}

export function forgetIntake() {
    pending = null;
}

const SOURCE_LABELS = {
    cctv_still: 'CCTV still',
    field_photo: 'Field photo',
    social_media: 'Social media photo',
    identity_document: 'Identity document photo',
    other: 'Other genuine photo',
    sketch: 'sketch',
    composite: 'composite',
    look_alike: 'look-alike',
    edited: 'edited image',
    generated: 'generated image',
};

/** A probe source's short name for people ("CCTV still"); unknown names are shown as they came, underscores as spaces. */
export function sourceLabel(name) {
    return SOURCE_LABELS[name] ?? String(name ?? '').replace(/_/g, ' ');
}

/** An offence category for people: "sexual-assault" → "sexual assault". */
export function offenceLabel(name) {
    return String(name ?? '').replace(/[-_]/g, ' ');
}

const REFUSAL_HELP = {
    unknown_user: 'Your account is not known to the catalog. Ask your administrator.',
    user_disabled: 'Your account is disabled. Ask your administrator.',
    not_an_analyst: 'Only analysts may search.',
    nda_expired: 'Ask your administrator to record your current confidentiality agreement; until then you cannot search.',
    training_expired: 'Ask your administrator to record your current face-search training; until then you cannot search.',
    no_case: 'Choose the case this search is for.',
    unknown_case: 'The case is not known. Choose one of your cases.',
    case_closed: 'The case is closed: it accepts no more searches. The list of cases has been refreshed.',
    offence_not_allowed: 'Face search is not allowed for this case’s offence.',
    authorisation_expired: 'The case’s authorisation has expired. A supervisor must record a renewed authorisation before anyone searches for it.',
    not_assigned: 'You are not assigned to this case. A supervisor must assign you (need-to-know).',
    no_attestation: 'Say what the probe photo is.',
    unknown_source: 'Choose one of the probe sources offered.',
    refused_source: 'Sketches, composites, look-alikes and edited or generated images are never searched: they have led to wrongful arrests. Use a genuine, unedited photo of the person.',
};

/** What the user can do about an intake refusal (by its `refusal` code); null when there is nothing to add. */
export function refusalHelp(code) {
    return REFUSAL_HELP[code] ?? null;
}

/** Refusals after which the list of cases is worth reading again (the case changed since the page read it). */
export const CASE_REFUSALS = new Set(['unknown_case', 'case_closed', 'authorisation_expired', 'not_assigned', 'offence_not_allowed']);
