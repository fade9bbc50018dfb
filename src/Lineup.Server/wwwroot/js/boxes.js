// Face boxes drawn over a displayed photo. Boxes come in original-image pixels; the photo is shown smaller (a
// downscaled preview, or a probe fitted to the page), so every box is scaled by displayed width / original width and
// laid out again whenever the displayed image changes size.

export class BoxLayer {
    /** img: the displayed <img>; layer: an absolutely positioned element covering it. */
    constructor(img, layer) {
        this.img = img;
        this.layer = layer;
        this.width = 0;
        this.height = 0;
        this.items = [];
        this.observer = new ResizeObserver(() => this.layout());
        this.observer.observe(img);
        img.addEventListener('load', () => this.layout());
    }

    /** width, height: the ORIGINAL image's size; items: [{ node, box: {x1,y1,x2,y2} }]. Replaces the boxes. */
    set(width, height, items) {
        this.width = Number(width) || 0;
        this.height = Number(height) || 0;
        this.items = items;
        this.layer.replaceChildren(...items.map((item) => item.node));
        this.layout();
    }

    clear() {
        this.items = [];
        this.width = 0;
        this.height = 0;
        this.layer.replaceChildren();
    }

    layout() {
        const shown = this.img.clientWidth;
        if (!this.width || !this.height || !shown) {
            this.layer.classList.add('stage__boxes--waiting');
            return;
        }
        this.layer.classList.remove('stage__boxes--waiting');
        const scale = shown / this.width;
        for (const { node, box } of this.items) {
            const x1 = clamp(Math.min(box.x1, box.x2), 0, this.width);
            const x2 = clamp(Math.max(box.x1, box.x2), 0, this.width);
            const y1 = clamp(Math.min(box.y1, box.y2), 0, this.height);
            const y2 = clamp(Math.max(box.y1, box.y2), 0, this.height);
            node.style.left = `${(x1 * scale).toFixed(1)}px`;
            node.style.top = `${(y1 * scale).toFixed(1)}px`;
            node.style.width = `${Math.max(2, (x2 - x1) * scale).toFixed(1)}px`;
            node.style.height = `${Math.max(2, (y2 - y1) * scale).toFixed(1)}px`;
            // Boxes too small for their label keep it outside, above the box.
            node.classList.toggle('face-box--small', (x2 - x1) * scale < 28);
        }
    }
}

function clamp(value, low, high) {
    const number = Number(value) || 0;
    return Math.min(high, Math.max(low, number));
}
