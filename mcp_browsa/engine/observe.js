// Page script for mcp_browsa.engine.observation: one evaluation per frame walks the composed tree
// (light DOM, open shadow roots, slots), tags interactive elements and returns compact rows.
(opts) => {
  const read = opts.mode === 'read';
  const IDX = 'data-browsa-idx';
  const FRM = 'data-browsa-frame';
  const nonce = opts.nonce;
  const cap = opts.textCap;
  const vh = window.innerHeight;
  const root = document.documentElement;
  const docW = Math.max(root ? root.scrollWidth : 0, window.innerWidth);
  const sy = window.scrollY;
  const ROLES = new Set([
    'button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem', 'menuitemcheckbox', 'menuitemradio',
    'option', 'combobox', 'textbox', 'searchbox', 'slider', 'spinbutton', 'treeitem', 'listbox',
  ]);
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD', 'META', 'LINK', 'TITLE']);
  // Children of these are either not rendered as text or already summarised on the element line.
  const OPAQUE = new Set([
    'SELECT', 'TEXTAREA', 'OPTION', 'DATALIST', 'svg', 'IFRAME', 'FRAME', 'OBJECT', 'VIDEO', 'AUDIO', 'CANVAS',
  ]);
  const MAX_DEPTH = 600; // recursion well inside the JS stack, even for pathological nesting
  const BUTTONISH = new Set(['button', 'submit', 'reset', 'image']);
  const WORDY = /[\p{L}\p{N}]/u;
  const rows = [];
  const lines = [];
  let nextId = 0;
  let nextFrame = 0;
  let chars = 0;
  let cur = '';
  let curY = null;
  // Links written into the current line as `[text][\u0001serial\u0002]`; Python puts their final index there.
  let curLinks = [];
  let curIsRow = false;

  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const CELL = '\u0003';  // between two cells of a row; the cells' own spaces around it are dropped in flush()
  const CELLS = / ?\u0003 ?/g;
  const clip = (s) => (s.length > cap ? s.slice(0, cap) : s);
  const flush = () => {
    const t = clean(cur).replace(CELLS, '|');
    let rest = t;
    for (const row of curLinks) rest = rest.split(row.tok).join('');
    if (curLinks.length && !curIsRow && !WORDY.test(rest)) {
      // Links with no words around them (a menu, a result list, pagination) read best as element lines; in a
      // table row they keep their column.
      for (const row of curLinks) row.inl = false;
    } else if (t) {
      if (chars < opts.maxText) lines.push({ t: clip(t), y: curY === null ? 0 : curY });
      chars += t.length + 1;
    }
    for (const row of curLinks) delete row.tok;
    cur = '';
    curY = null;
    curLinks = [];
    curIsRow = false;
  };

  const shortHref = (el) => {
    const raw = el.getAttribute('href') || '';
    if (/^\s*javascript:/i.test(raw)) return 'javascript:';
    let u;
    try {
      u = new URL(el.href);
    } catch (e) {
      return raw;
    }
    if (u.origin === opts.origin) return (u.pathname + u.search + u.hash) || '/';
    return u.href;
  };

  const labelOf = (el, tag) => {
    if (tag === 'select') {
      const opts_ = Array.from(el.options || []);
      const shown = opts_.slice(0, 12).map((o) => clean(o.label || o.text));
      if (opts_.length > 12) shown.push(`… +${opts_.length - 12} more`);
      return shown.join(' | ');
    }
    if (tag === 'input' || tag === 'textarea') {
      if (tag === 'input' && BUTTONISH.has(el.type)) return clean(el.value || el.alt || '');
      return '';
    }
    let t = clean(el.innerText);
    if (!t) t = clean(el.getAttribute('title'));
    if (!t) {
      const img = el.querySelector('img[alt], [aria-label], svg title');
      if (img) t = clean(img.getAttribute('alt') || img.getAttribute('aria-label') || img.textContent);
    }
    return t;
  };

  // A label's own words, without the text of the control it wraps (a select's options, say).
  const labelText = (el) => {
    const label = el.labels && el.labels[0];
    if (!label) return '';
    let out = '';
    for (const n of label.childNodes) {
      if (n.nodeType === 3) out += n.nodeValue;
      else if (n.nodeType === 1 && !n.matches('input, select, textarea, button')) out += ' ' + n.innerText + ' ';
    }
    return clean(out);
  };

  const attrsOf = (el, tag, st) => {
    const a = {};
    if (tag === 'a') {
      a.href = shortHref(el);
      if (el.target === '_blank') a.target = '_blank';
    }
    const name = el.getAttribute('name');
    if (name) a.name = name;
    if (tag === 'input') {
      const type = (el.type || 'text').toLowerCase();
      if (type !== 'text') a.type = type;
      if (type === 'checkbox' || type === 'radio') {
        if (el.checked) a.checked = true;
      } else if (type === 'password') {
        // The value never leaves the page, whatever the caller masks.
        if (el.value) a.value = '••••';
      } else if (!BUTTONISH.has(type) && el.value) {
        a.value = el.value.slice(0, cap);
      }
    } else if (tag === 'textarea' && el.value) {
      a.value = el.value.slice(0, cap);
    } else if (tag === 'select') {
      const o = el.selectedOptions && el.selectedOptions[0];
      if (o) a.selected = clean(o.label || o.text);
      if (el.multiple) a.multiple = true;
    }
    if ((tag === 'input' && !BUTTONISH.has(el.type)) || tag === 'textarea' || tag === 'select') {
      const label = labelText(el);
      if (label && label !== el.getAttribute('placeholder')) a.label = label.slice(0, cap);
    }
    const ph = el.getAttribute('placeholder');
    if (ph) a.placeholder = ph;
    const role = el.getAttribute('role');
    if (role) a.role = role;
    const aria = el.getAttribute('aria-label');
    if (aria) a['aria-label'] = aria;
    if (el.getAttribute('aria-checked') === 'true') a.checked = true;
    if (el.getAttribute('aria-selected') === 'true') a.selected = true;
    if (el.isContentEditable && tag !== 'input' && tag !== 'textarea') a.contenteditable = true;
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') a.disabled = true;
    return a;
  };

  const isCandidate = (el, tag, st, parentPointer, inCand) => {
    // Returns 2 for elements that are interactive by definition, 1 for a heuristic guess, 0 otherwise.
    if (tag === 'a') { if (el.hasAttribute('href')) return 2; }
    else if (tag === 'button' || tag === 'select' || tag === 'textarea' || tag === 'summary') return 2;
    else if (tag === 'input') return el.type === 'hidden' ? 0 : 2;
    const role = el.getAttribute('role');
    if (role && ROLES.has(role)) return 2;
    if (el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) return 2;
    if (el.hasAttribute('onclick') || typeof el.onclick === 'function') return 2;
    if (inCand) return 0;
    // No DOM API lists addEventListener handlers; a pointer cursor that starts here is the usual tell.
    if (st.cursor === 'pointer' && !parentPointer) return 1;
    const ti = el.getAttribute('tabindex');
    if (ti !== null && parseInt(ti, 10) >= 0 && tag !== 'body' && tag !== 'html') return 1;
    return 0;
  };

  const kidsOf = (el) => {
    if (el.shadowRoot) return el.shadowRoot.childNodes;
    if (el.tagName === 'SLOT') {
      const assigned = el.assignedNodes();
      return assigned.length ? assigned : el.childNodes;
    }
    return el.childNodes;
  };

  // ctx: pointer = parent has cursor:pointer, inCand = inside a candidate, veiled = an ancestor has opacity 0,
  // quiet = text here is already on an element line, depth = nesting. Returns whether the subtree holds a
  // definite candidate.
  const walk = (el, ctx) => {
    const tag = el.tagName;
    if (SKIP.has(tag) || ctx.depth > MAX_DEPTH) return false;
    const st = getComputedStyle(el);
    const disp = st.display;
    if (disp === 'none') return false;
    const lower = tag.toLowerCase();
    if (!read && el.hasAttribute(IDX)) el.removeAttribute(IDX);
    const rect = disp === 'contents' ? null : el.getBoundingClientRect();
    const veiled = ctx.veiled || st.opacity === '0';
    const shown = !!rect && st.visibility === 'visible' && rect.width > 0 && rect.height > 0
      && !(rect.width <= 1 && rect.height <= 1) && rect.right > 0 && rect.left < docW && rect.bottom + sy > 0
      && (!el.checkVisibility || el.checkVisibility());  // also catches content-visibility, as in closed <details>
    const visible = shown && (!veiled || (lower === 'input' && (el.type === 'checkbox' || el.type === 'radio')));

    if (lower === 'iframe' || lower === 'frame') {
      const key = `${nonce}-${nextFrame++}`;
      el.setAttribute(FRM, key);
      if (visible) {
        const top = rect.top + el.clientTop + (parseFloat(st.paddingTop) || 0);
        flush();
        rows.push({ f: key, y: top });
        lines.push({ f: key, y: top });
      }
      return false;
    }

    // Inside a table row every cell's content stays on the row's one line, so a table reads as `a|b|c` rows (bare
    // bars: on a hundred-row table, spaces around them would take a tenth of the observation).
    const block = !disp.startsWith('inline') && disp !== 'contents' && disp !== 'table-cell' && !ctx.row;
    if (block || disp === 'table-row' || (lower === 'br' && !ctx.row)) flush();
    if (disp === 'table-row') curIsRow = true;
    else if (disp === 'table-cell' && clean(cur)) cur += CELL;
    else if (disp !== 'inline' && disp !== 'contents') cur += ' ';

    let kind = 0;
    let row = null;
    let quiet = ctx.quiet;
    if (!read && visible) {
      kind = isCandidate(el, lower, st, ctx.pointer, ctx.inCand);
      if (kind) {
        const label = labelOf(el, lower);
        row = {
          id: 0, s: rows.length, tag: lower, a: attrsOf(el, lower, st), t: label.slice(0, cap), y: rect.top, b: rect.bottom,
        };
        rows.push(row);
        if (kind === 2 && lower === 'a' && disp.startsWith('inline') && label && !ctx.quiet) {
          // A link keeps its words in the sentence or table row it sits in, with its index beside them.
          const words = label.length > opts.elemText ? label.slice(0, opts.elemText - 1) + '…' : label;
          row.tok = `[${words}][\u0001${row.s}\u0002]`;
          row.inl = true;
          if (curY === null) curY = rect.top;
          cur += row.tok;
          curLinks.push(row);
          quiet = true;
        }
        // Its words are on the element line already; a guessed candidate may still be dropped below, so not for it.
        if (kind === 2 && label.length <= opts.elemText) quiet = true;
        // An icon-only control gets its id, the one remaining hint at what it does.
        if (!label && el.id && Object.keys(row.a).length === 0) row.a.id = el.id.slice(0, 40);
      }
    }
    let inner = false;
    if (!OPAQUE.has(tag) && !OPAQUE.has(lower)) {
      const depth = ctx.depth + 1;
      const sub = {
        pointer: st.cursor === 'pointer', inCand: ctx.inCand || !!kind, veiled, quiet, depth,
        row: ctx.row || disp === 'table-row',
      };
      const textOk = (disp === 'contents' ? !veiled : shown && !veiled) && !quiet && st.visibility === 'visible';
      let pre = null;  // read from the computed style once, and only for an element with text of its own
      for (const n of kidsOf(el)) {
        if (n.nodeType === 1) {
          if (walk(n, sub)) inner = true;
        } else if (n.nodeType === 3 && textOk) {
          const v = n.nodeValue;
          if (pre === null) pre = st.whiteSpace.startsWith('pre') || st.whiteSpace === 'break-spaces';
          // In preformatted text (code) the whitespace between tokens is part of what is read.
          if (v && (pre || v.trim())) {
            if (curY === null) curY = rect ? rect.top : 0;
            if (pre) {
              // Preformatted text (code, plain-text documents) keeps its line breaks.
              const parts = v.split('\n');
              cur += parts[0];
              for (const part of parts.slice(1)) {
                flush();
                curY = rect ? rect.top : 0;
                cur += part;
              }
            } else {
              cur += v;
            }
          } else if (v && cur) {
            cur += ' ';  // the space between two inline elements: `<b>a</b> <i>b</i>` reads "a b"
          }
        }
      }
    }
    // A pointer-cursor wrapper around a real link or button adds nothing but a duplicate line.
    if (kind === 1 && inner) row.drop = true;
    else if (row) {
      row.id = ++nextId;
      el.setAttribute(IDX, `${nonce}-${row.id}`);
    }
    if (block) flush();
    else if (disp !== 'inline' && disp !== 'contents' && disp !== 'table-cell') cur += ' ';
    return inner || kind === 2;
  };

  const top = { pointer: false, inCand: false, veiled: false, quiet: false, depth: 0, row: false };
  if (document.body) walk(document.body, top);
  flush();
  const result = {
    url: location.href,
    title: document.title,
    vh,
    sy,
    sh: root ? Math.max(root.scrollHeight, document.body ? document.body.scrollHeight : 0) : vh,
    chars,
    rows: rows.filter((r) => !r.drop),
    lines,
  };
  // One JSON string: Playwright's per-value serialisation of a nested result costs far more than the walk.
  // `raw` is the fallback for pages whose JSON.stringify was replaced or bent by toJSON polyfills.
  return opts.raw ? result : JSON.stringify(result);
}
