// Small DOM helpers. Text always goes in through text nodes, never through innerHTML: the gallery's provenance is
// untrusted web data.

/**
 * Creates an element. attrs: { class, text, dataset: {...}, on: { click: fn }, hidden, ...plain attributes };
 * children: nodes or strings (as text), null/false skipped.
 */
export function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
        if (value === null || value === undefined || value === false) {
            continue;
        }
        if (name === 'class') {
            node.className = value;
        } else if (name === 'text') {
            node.textContent = String(value);
        } else if (name === 'dataset') {
            for (const [key, data] of Object.entries(value)) {
                node.dataset[key] = String(data);
            }
        } else if (name === 'on') {
            for (const [type, handler] of Object.entries(value)) {
                node.addEventListener(type, handler);
            }
        } else if (name === 'hidden') {
            node.hidden = true;
        } else {
            node.setAttribute(name, value === true ? '' : String(value));
        }
    }
    append(node, ...children);
    return node;
}

export function append(node, ...children) {
    for (const child of children.flat()) {
        if (child === null || child === undefined || child === false) {
            continue;
        }
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
}

export function clear(node) {
    node.replaceChildren();
    return node;
}

export const byId = (id) => document.getElementById(id);

export function show(node, visible = true) {
    node.hidden = !visible;
}

/** Moves the focus to a node and scrolls it to the top of the view (smoothly unless reduced motion is asked for). */
export function focusAndReveal(node) {
    if (!node) {
        return;
    }
    node.focus({ preventScroll: true });
    const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    node.scrollIntoView({ block: 'start', behavior: smooth ? 'smooth' : 'auto' });
}
