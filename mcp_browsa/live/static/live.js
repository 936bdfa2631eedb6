// The live view: frames and state from the WebSocket; while "Take control" is on, the mouse, wheel and keys
// over the picture go back to the browser as positions relative to the picture.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const screen = $('screen');
  const control = $('control');
  const token = location.pathname.split('/')[2] || '';
  let view = new URLSearchParams(location.search).get('view');
  let ws = null;
  let mine = false;
  let frames = 0;
  let lastMove = 0;

  const note = (text) => { $('note').textContent = text; };
  const send = (m) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); };
  const mods = (e) => (e.altKey ? 1 : 0) | (e.ctrlKey ? 2 : 0) | (e.metaKey ? 4 : 0) | (e.shiftKey ? 8 : 0);
  const at = (e) => {
    const r = screen.getBoundingClientRect();
    return { x: (e.clientX - r.left) / r.width, y: (e.clientY - r.top) / r.height };
  };

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = view ? `?view=${encodeURIComponent(view)}` : '';
    ws = new WebSocket(`${scheme}//${location.host}/live/${token}/ws${query}`);
    ws.onmessage = (e) => handle(JSON.parse(e.data));
    ws.onclose = (e) => {
      setMine(false);
      control.disabled = true;
      const why = { 4410: 'This live view has ended.', 4404: 'No live view at this address.', 4403: 'Refused.' };
      $('status').textContent = why[e.code] || 'Ended: the job, session or browser is over.';
    };
  }

  function setMine(on) {
    mine = on;
    control.textContent = on ? 'Hand back' : 'Take control';
    control.classList.toggle('mine', on);
    screen.classList.toggle('mine', on);
    if (on) screen.focus();
  }

  function showPage(m) {
    $('url').textContent = m.url;
    const tabs = $('tabs');
    tabs.replaceChildren(...m.tabs.map((t) => {
      const li = document.createElement('li');
      li.textContent = t.url || 'about:blank';
      li.className = t.active ? 'active' : '';
      return li;
    }));
    const views = $('views');
    views.hidden = m.views.length < 2;
    views.replaceChildren(...m.views.map((k) => new Option(k === 'main' ? 'browser' : k, k, false, k === m.view)));
    control.disabled = m.control === 'other';
    setMine(m.control === 'you');
  }

  function showStatus(m) {
    const status = $('status');
    status.textContent = m.status || '';
    status.classList.toggle('human', m.status === 'human_control');
    $('last').textContent = m.last_action ? `· ${m.last_action}` : '';
    const ask = $('ask');
    ask.hidden = !(m.status === 'input_required' && m.question);
    if (!ask.hidden) $('question').textContent = m.question;
  }

  function handle(m) {
    switch (m.t) {
      case 'frame':
        screen.src = `data:image/jpeg;base64,${m.data}`;
        screen.dataset.frames = String(++frames);
        break;
      case 'page': showPage(m); break;
      case 'status': showStatus(m); break;
      case 'ended': note('The browser shown here has closed.'); break;
      case 'error': note(m.error); break;
      default: break;
    }
  }

  control.addEventListener('click', () => send({ t: 'control', on: !mine }));
  $('views').addEventListener('change', (e) => {
    view = e.target.value;
    send({ t: 'view', key: view });
  });
  $('ask').addEventListener('submit', (e) => {
    e.preventDefault();
    send({ t: 'answer', text: $('answer').value, secret: $('secret').checked });
    $('answer').value = '';
  });

  const mouse = (kind) => (e) => {
    if (!mine) return;
    e.preventDefault();
    if (kind === 'down') screen.focus();
    if (kind === 'move') {
      const now = performance.now();
      if (now - lastMove < 50) return;
      lastMove = now;
    }
    const button = ['left', 'middle', 'right'][e.button] || 'left';
    send({ t: 'mouse', kind, ...at(e), button, clicks: e.detail || 1, mods: mods(e) });
  };
  screen.addEventListener('mousedown', mouse('down'));
  screen.addEventListener('mouseup', mouse('up'));
  screen.addEventListener('mousemove', mouse('move'));
  screen.addEventListener('contextmenu', (e) => { if (mine) e.preventDefault(); });
  screen.addEventListener('wheel', (e) => {
    if (!mine) return;
    e.preventDefault();
    send({ t: 'wheel', ...at(e), dx: e.deltaX, dy: e.deltaY, mods: mods(e) });
  }, { passive: false });
  screen.addEventListener('keydown', (e) => {
    if (!mine) return;
    e.preventDefault();
    send({ t: 'key', key: e.key, code: e.code, mods: mods(e) });
  });
  document.addEventListener('paste', (e) => {
    if (!mine) return;
    e.preventDefault();
    send({ t: 'text', text: e.clipboardData.getData('text') });
  });

  connect();
})();
