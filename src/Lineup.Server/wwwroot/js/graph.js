// The co-appearance graph drawn with cytoscape (npm, MIT; its ES module build is served as /lib/cytoscape.esm.min.js
// and loaded only when a graph is first drawn). Identities are nodes sized by their faces; an edge's width grows with
// its weight, solid when the two share a photo, dashed when they only share a page. The drawn instance is
// `window.lineupGraph` (the browser tests read it).

import { visibleText } from './format.js';

let loading = null;

function loadCytoscape() {
    if (!loading) {
        loading = import('../lib/cytoscape.esm.min.js').then((module) => module.default);
        loading.catch(() => {
            loading = null;
        });
    }
    return loading;
}

// Cytoscape adds a <style> element for its container's `position: relative` unless an element with this id exists; the
// page's CSP refuses inline styles, so app.css carries the rule and this marker tells cytoscape not to try.
const STYLESHEET_MARKER = '__________cytoscape_stylesheet';

function markStylesheet() {
    if (!document.getElementById(STYLESHEET_MARKER)) {
        const marker = document.createElement('meta');
        marker.id = STYLESHEET_MARKER;
        marker.name = 'lineup-graph-style';
        marker.content = 'app.css';
        document.head.append(marker);
    }
}

const COLOURS = {
    node: '#1f4e8c',
    centre: '#ffd21f',
    text: '#1b1f24',
    edge: '#7b8494',
    selected: '#0b5fff',
    outline: '#ffffff',
};

const STYLE = [
    {
        selector: 'node',
        style: {
            'background-color': COLOURS.node,
            width: 'data(size)',
            height: 'data(size)',
            label: 'data(label)',
            color: COLOURS.text,
            'font-size': 12,
            'text-valign': 'bottom',
            'text-margin-y': 4,
            'text-wrap': 'ellipsis',
            'text-max-width': 140,
            // Labels stay readable where they cross an edge.
            'text-background-color': COLOURS.outline,
            'text-background-opacity': 0.85,
            'text-background-padding': 2,
            'border-width': 2,
            'border-color': COLOURS.outline,
        },
    },
    {
        selector: 'node[?centre]',
        style: { 'background-color': COLOURS.centre, 'border-color': COLOURS.text, 'border-width': 3, 'font-weight': 'bold' },
    },
    {
        selector: 'edge',
        style: {
            width: 'data(width)',
            'line-color': COLOURS.edge,
            'curve-style': 'bezier',
            // A thin edge is hard to hit with a finger or a mouse: the tap area is wider than the line.
            'overlay-padding': 6,
        },
    },
    // The centre's own edges lie on top: where another edge crosses one, a click takes the centre's.
    { selector: 'edge[?central]', style: { 'z-index': 2 } },
    {
        selector: 'edge[bow]',
        style: { 'curve-style': 'unbundled-bezier', 'control-point-distances': (edge) => edge.data('bow'), 'control-point-weights': 0.5 },
    },
    { selector: 'edge[?pageOnly]', style: { 'line-style': 'dashed', 'line-dash-pattern': [8, 5] } },
    { selector: 'edge:selected', style: { 'line-color': COLOURS.selected } },
    { selector: 'node:selected', style: { 'border-color': COLOURS.selected, 'border-width': 4 } },
];

/** A node's diameter: grows with the square root of its faces, 24 to 72 px. */
function nodeSize(faces) {
    return Math.round(Math.min(72, 24 + 8 * Math.sqrt(Math.max(0, faces - 1))));
}

/** An edge's width: a photo counts 1, a page 0.5 (the server's weight); 1.5 to 10 px. */
function edgeWidth(weight) {
    return Math.min(10, 1.5 + 2.5 * Math.log2(1 + Math.max(0, weight)));
}

let current = null;

/** Removes the drawn graph (leaving the page, or before drawing another). */
export function destroyGraph() {
    current?.destroy();
    current = null;
    if (window.lineupGraph) {
        delete window.lineupGraph;
    }
}

/**
 * Draws `graph` ({ nodes: IdentityDto[], edges: [{ a, b, photos, pages, weight }] }) into `container` around the identity
 * `centreId`; `levels` maps an identity id to its hops from the centre. Tapping a node calls onNode(identityId), tapping
 * an edge onEdge(a, b). Resolves to the cytoscape instance.
 */
export async function drawGraph(container, graph, { centreId, levels, onNode, onEdge }) {
    const cytoscape = await loadCytoscape();
    destroyGraph();
    markStylesheet();
    const elements = [];
    for (const node of graph.nodes ?? []) {
        const id = String(node.id);
        elements.push({
            group: 'nodes',
            data: {
                id,
                label: visibleText(node.label ?? `identity ${id}`),
                size: nodeSize(node.faces ?? 1),
                centre: id === String(centreId),
                level: id === String(centreId) ? 0 : (levels.get(id) ?? 2),
            },
        });
    }
    const known = new Set(elements.map((e) => e.data.id));
    for (const edge of graph.edges ?? []) {
        const a = String(edge.a);
        const b = String(edge.b);
        if (!known.has(a) || !known.has(b)) {
            continue;
        }
        elements.push({
            group: 'edges',
            data: {
                id: `${a}-${b}`,
                source: a,
                target: b,
                a,
                b,
                photos: edge.photos ?? 0,
                pages: edge.pages ?? 0,
                weight: edge.weight ?? 0,
                width: edgeWidth(edge.weight ?? 0),
                pageOnly: (edge.photos ?? 0) === 0,
                central: a === String(centreId) || b === String(centreId),
            },
        });
    }
    const cy = cytoscape({
        container,
        elements,
        style: STYLE,
        layout: {
            name: 'concentric',
            // The identity in the middle, its associates around it, theirs further out.
            concentric: (node) => 10 - node.data('level'),
            levelWidth: () => 1,
            minNodeSpacing: 36,
            animate: false,
            fit: true,
            padding: 36,
        },
        // The page scrolls over the graph: no wheel zoom or panning to trap it; nodes can still be dragged apart.
        userZoomingEnabled: false,
        userPanningEnabled: false,
        boxSelectionEnabled: false,
        selectionType: 'single',
        minZoom: 0.2,
        maxZoom: 2.5,
    });
    bowAroundCentre(cy, String(centreId));
    cy.on('tap', 'node', (event) => onNode?.(event.target.id()));
    cy.on('tap', 'edge', (event) => {
        cy.elements().unselect();
        event.target.select();
        onEdge?.(event.target.data('a'), event.target.data('b'));
    });
    current = cy;
    window.lineupGraph = cy;
    return cy;
}

/** The distance from point p to the segment from a to b. */
function distanceToSegment(p, a, b) {
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const length2 = dx * dx + dy * dy;
    const t = length2 === 0 ? 0 : Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / length2));
    return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

/**
 * An edge between two associates on opposite sides of the centre would run straight through the centre node and over
 * its edges: such an edge bends around the centre instead (its control point twice the clearance away, so that the
 * curve's middle clears the centre by the node's radius and a margin).
 */
function bowAroundCentre(cy, centreId) {
    const centre = cy.getElementById(centreId);
    if (centre.empty()) {
        return;
    }
    const at = centre.position();
    const clearance = centre.data('size') / 2 + 18;
    cy.edges().forEach((edge) => {
        if (edge.data('central')) {
            return;
        }
        const from = edge.source().position();
        const to = edge.target().position();
        if (distanceToSegment(at, from, to) < clearance) {
            // Bend away from the side the centre is on (the sign is relative to the source → target direction).
            const side = (to.x - from.x) * (at.y - from.y) - (to.y - from.y) * (at.x - from.x);
            edge.data('bow', (side > 0 ? -2 : 2) * clearance);
        }
    });
}

/** Marks the edge between a and b selected (after its evidence was opened from the table). */
export function selectEdge(a, b) {
    if (!current) {
        return;
    }
    current.elements().unselect();
    const [x, y] = [String(a), String(b)];
    current.edges().filter((edge) => (edge.data('a') === x && edge.data('b') === y) || (edge.data('a') === y && edge.data('b') === x)).select();
}

/** Fits the drawing to its container again (after the container was resized). */
export function fitGraph() {
    current?.resize();
    current?.fit(undefined, 36);
}
