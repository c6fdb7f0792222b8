() => {
  // Zoom and pan for the #preview image while Gradio shows it fullscreen (issue 12).
  // Gradio 6.31's Image "fullscreen" only adds the class `fullscreen` to the #preview block
  // (position: fixed over the viewport); it has no zoom or pan. This adds them with a CSS
  // transform on the <img>: the pixels and the src are never touched. Loaded by
  // launch(js=...), which calls this function once the page is ready.
  // Wheel zooms about the cursor, one pointer drags, two pointers pinch, double-click or "0"
  // resets, "+"/"-" zoom about the centre. Leaving fullscreen or a new src resets the view.
  if (window.__previewZoom) return;
  const MIN = 1;
  const MAX = 32;
  const view = { img: null, src: null, scale: 1, x: 0, y: 0, shownX: 0, shownY: 0 };
  const pointers = new Map();
  let gesture = null;

  const block = () => document.getElementById("preview");
  const active = () => {
    const b = block();
    return b && b.classList.contains("fullscreen") ? b.querySelector("img") : null;
  };
  const onImage = (event) => {
    const img = active();
    return img && event.target instanceof Node && img.contains(event.target) ? img : null;
  };

  function apply() {
    const img = view.img;
    if (!img) return;
    const zoomed = view.scale > 1.0001;
    view.shownX = zoomed ? view.x : 0; // what the element's bounding box currently includes
    view.shownY = zoomed ? view.y : 0;
    img.style.transformOrigin = zoomed ? "0 0" : "";
    img.style.transform = zoomed
      ? `translate(${view.x}px, ${view.y}px) scale(${view.scale})`
      : "";
    // Past 1:1 on screen, show the model's pixels as squares instead of a smoothed blur.
    const fit = Math.min(
      img.clientWidth / (img.naturalWidth || 1),
      img.clientHeight / (img.naturalHeight || 1),
    );
    const magnified = fit * view.scale * devicePixelRatio > 1.01;
    img.style.imageRendering = zoomed && magnified ? "pixelated" : "";
    img.style.cursor = zoomed ? (gesture ? "grabbing" : "grab") : "";
    const b = block();
    if (b) b.dataset.zoom = `×${view.scale.toFixed(1)}`;
  }

  function reset(img) {
    if (view.img && view.img !== img) {
      for (const p of ["transform", "transformOrigin", "imageRendering", "cursor"]) {
        view.img.style[p] = "";
      }
    }
    view.img = img || null;
    view.src = img ? img.getAttribute("src") : null;
    view.scale = 1;
    view.x = 0;
    view.y = 0;
    pointers.clear();
    gesture = null;
    apply();
  }

  // The view belongs to one image in fullscreen; anything else (new upload, other window or
  // frame, leaving fullscreen, Gradio re-creating the element) starts again at "fit".
  function sync() {
    const img = active();
    if (img !== view.img || (img && img.getAttribute("src") !== view.src)) reset(img);
    return img;
  }

  // Keep the drawn picture (object-fit: contain leaves black bars) covering the screen on an axis
  // where it is larger, centred where it is smaller: no panning into the bars or off-screen.
  function clamp() {
    const img = view.img;
    const w = img.clientWidth;
    const h = img.clientHeight;
    const fit = Math.min(w / (img.naturalWidth || w), h / (img.naturalHeight || h));
    const axis = (offset, box, drawn) => {
      const pad = (box - drawn) / 2; // the bar before the picture, unzoomed
      const size = drawn * view.scale;
      if (size <= box) return (box - size) / 2 - pad * view.scale;
      return Math.min(-pad * view.scale, Math.max(box - (pad + drawn) * view.scale, offset));
    };
    view.x = axis(view.x, w, (img.naturalWidth || w) * fit);
    view.y = axis(view.y, h, (img.naturalHeight || h) * fit);
  }

  // Zoom to `scale` keeping the image point under (clientX, clientY) where it is.
  function zoomAt(scale, clientX, clientY) {
    const img = view.img;
    const next = Math.min(MAX, Math.max(MIN, scale));
    const rect = img.getBoundingClientRect();
    const left = rect.left - view.shownX; // the untransformed box (origin 0 0, scale >= 1)
    const top = rect.top - view.shownY;
    const px = (clientX - left - view.x) / view.scale;
    const py = (clientY - top - view.y) / view.scale;
    view.x = clientX - left - next * px;
    view.y = clientY - top - next * py;
    view.scale = next;
    clamp();
    apply();
  }

  function zoomAtCentre(factor) {
    const rect = view.img.parentElement.getBoundingClientRect();
    zoomAt(view.scale * factor, rect.left + rect.width / 2, rect.top + rect.height / 2);
  }

  document.addEventListener(
    "wheel",
    (event) => {
      if (!onImage(event) || !sync()) return;
      event.preventDefault();
      const unit = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1;
      const factor = Math.exp(-event.deltaY * unit * 0.002);
      zoomAt(view.scale * factor, event.clientX, event.clientY);
    },
    { passive: false, capture: true },
  );

  const gestureFrom = () => {
    const pts = [...pointers.values()];
    if (pts.length >= 2) {
      const [a, b] = pts;
      return {
        cx: (a.x + b.x) / 2,
        cy: (a.y + b.y) / 2,
        dist: Math.hypot(a.x - b.x, a.y - b.y) || 1,
        scale: view.scale,
        x: view.x,
        y: view.y,
      };
    }
    const [a] = pts;
    return { cx: a.x, cy: a.y, dist: 0, scale: view.scale, x: view.x, y: view.y };
  };

  document.addEventListener(
    "pointerdown",
    (event) => {
      const img = onImage(event);
      if (!img || !sync() || (event.pointerType === "mouse" && event.button !== 0)) return;
      event.preventDefault();
      pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      try {
        img.setPointerCapture(event.pointerId);
      } catch {
        // Synthetic or already-released pointers cannot be captured; events still bubble here.
      }
      gesture = gestureFrom();
      apply();
    },
    { capture: true },
  );

  document.addEventListener(
    "pointermove",
    (event) => {
      if (!pointers.has(event.pointerId) || !view.img) return;
      event.preventDefault();
      pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      const now = gestureFrom();
      const start = gesture;
      if (now.dist && start.dist) {
        // Pinch: scale by the change in finger distance about the start midpoint, then follow
        // the midpoint.
        view.scale = start.scale;
        view.x = start.x;
        view.y = start.y;
        zoomAt(start.scale * (now.dist / start.dist), start.cx, start.cy);
        view.x += now.cx - start.cx;
        view.y += now.cy - start.cy;
      } else {
        view.x = start.x + (now.cx - start.cx);
        view.y = start.y + (now.cy - start.cy);
      }
      clamp();
      apply();
    },
    { capture: true },
  );

  const release = (event) => {
    if (!pointers.delete(event.pointerId)) return;
    gesture = pointers.size ? gestureFrom() : null; // a lifted finger continues as a drag
    apply();
  };
  document.addEventListener("pointerup", release, { capture: true });
  document.addEventListener("pointercancel", release, { capture: true });

  document.addEventListener(
    "dblclick",
    (event) => {
      const img = onImage(event);
      if (!img) return;
      event.preventDefault();
      reset(img);
    },
    { capture: true },
  );

  // Stop the browser's own image drag-and-drop from stealing a pan.
  document.addEventListener(
    "dragstart",
    (event) => {
      if (onImage(event)) event.preventDefault();
    },
    { capture: true },
  );

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !sync()) return;
    const target = event.target;
    if (target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]")) return;
    if (event.key === "+" || event.key === "=") zoomAtCentre(1.25);
    else if (event.key === "-") zoomAtCentre(0.8);
    else if (event.key === "0") reset(view.img);
    else return;
    event.preventDefault();
  });

  // Gradio swaps the src (new upload, window or frame) or the whole element, and toggles the
  // block's `fullscreen` class: reset whenever that happens.
  new MutationObserver(sync).observe(document.body, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ["src", "class"],
  });
  window.addEventListener("resize", () => {
    if (view.img) {
      clamp();
      apply();
    }
  });
  window.__previewZoom = { reset: () => reset(active()), view };
  sync();
}
