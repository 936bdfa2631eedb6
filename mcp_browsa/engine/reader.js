// Page script for mcp_browsa.engine.reader, appended to Mozilla's Readability and Turndown (vendor/) inside one
// function, so neither ever lands on the page's globals. The page's own DOM is already parsed here, which makes
// this far cheaper than shipping its HTML out and parsing it again in Python.
const LANG = /(?:^|\s)(?:highlight|language|lang)-([A-Za-z0-9_+#-]+)/;
const DROP = 'script,style,noscript,template,svg,iframe,object,embed,canvas,img,picture,video,audio,[hidden],'
  + '[aria-hidden=true]';
const CHROME = 'nav,footer,header,aside,[role=navigation],[role=banner],[role=contentinfo]';
const base = document.baseURI || location.href;

const absolute = (raw) => {
  try {
    return new URL(raw, base).href;
  } catch (e) {
    return raw;
  }
};

// The language of a code block, before Readability strips class names: Sphinx puts it on a wrapper
// (`highlight-python3`), most highlighters on the <pre> or its <code>.
const markLanguages = (root) => {
  for (const pre of root.querySelectorAll('pre')) {
    let lang = '';
    for (let n = pre.querySelector('code') || pre, i = 0; n && i < 4 && !lang; n = n.parentElement, i++) {
      const m = LANG.exec(typeof n.className === 'string' ? n.className : '');
      if (m && !/^(?:default|none|text|plain|plaintext)$/i.test(m[1])) lang = m[1].replace(/\d+$/, '');
    }
    if (lang) pre.setAttribute('data-lang', lang.toLowerCase());
  }
};

// Only about `limit` characters of a page's text are converted: a 50 MB page costs what one of a few hundred KB
// does. Everything after the text node that passes the limit is cut from `root` (a copy); returns what was cut.
const limit = opts.cap * 3;
let unread = 0;
const cutAfter = (root) => {
  const total = root.textContent.length;
  if (total <= limit) return;
  const walker = root.ownerDocument.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  let seen = 0;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    seen += node.nodeValue.length;
    if (seen > limit) {
      const range = root.ownerDocument.createRange();
      range.setStartAfter(node);
      range.setEndAfter(root.lastChild);
      range.deleteContents();
      unread = Math.max(unread, total - seen);
      return;
    }
  }
};

const cellText = (s) => s.replace(/\s*\n+\s*/g, ' ').replace(/\|/g, '\\|').trim();

const turndown = () => {
  const td = new TurndownService({
    headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-', emDelimiter: '*', hr: '---',
  });
  // Only what would turn words into emphasis is escaped: brackets, hashes and the like stay as the page wrote them,
  // so a reader sees "[none]", not "\\[none\\]".
  td.escape = (text) => text.replace(/([*_])/g, '\\$1');
  td.remove(['script', 'style', 'noscript', 'template', 'img', 'picture', 'svg', 'button', 'input', 'select']);
  td.addRule('listItem', {
    filter: 'li',
    replacement: (content, node) => {
      const parent = node.parentNode;
      let prefix = '- ';
      if (parent && parent.nodeName === 'OL') {
        const start = parseInt(parent.getAttribute('start') || '1', 10) || 1;
        prefix = (start + Array.prototype.indexOf.call(parent.children, node)) + '. ';
      }
      content = content.replace(/^\n+/, '').replace(/\n+$/, '\n').replace(/\n/gm, '\n' + ' '.repeat(prefix.length));
      return prefix + content.trimEnd() + (node.nextSibling ? '\n' : '');
    },
  });
  td.addRule('pre', {
    filter: 'pre',
    replacement: (content, node) => {
      const code = node.textContent.replace(/\n+$/, '');
      let fence = '```';
      while (code.includes(fence)) fence += '`';
      return '\n\n' + fence + (node.getAttribute('data-lang') || '') + '\n' + code + '\n' + fence + '\n\n';
    },
  });
  td.addRule('link', {
    filter: (node) => node.nodeName === 'A' && node.getAttribute('href'),
    replacement: (content, node) => {
      const raw = node.getAttribute('href').trim();
      const text = content.trim();
      // Sphinx's "¶" and other self-anchors beside headings say nothing to a reader.
      if (raw.startsWith('#') && !/[\p{L}\p{N}]/u.test(text)) return '';
      if (/^javascript:/i.test(raw) || !text) return content;
      return '[' + text + '](' + absolute(raw).replace(/([()])/g, '\\$1').replace(/ /g, '%20') + ')';
    },
  });
  // Tables as GitHub pipe tables, the first row as the header row, so rows stay rows.
  td.addRule('cell', {
    filter: ['th', 'td'],
    replacement: (content, node) => (node.previousElementSibling ? ' ' : '| ') + cellText(content) + ' |',
  });
  td.addRule('row', {
    filter: 'tr',
    replacement: (content, node) => {
      const table = node.closest('table');
      let out = '\n' + content.trim();
      if (table && table.rows[0] === node) out += '\n|' + ' --- |'.repeat(Math.max(1, node.cells.length));
      return out;
    },
  });
  td.addRule('tableSection', { filter: ['thead', 'tbody', 'tfoot'], replacement: (content) => content });
  td.addRule('caption', { filter: 'caption', replacement: () => '' });
  td.addRule('table', {
    filter: 'table',
    replacement: (content, node) => {
      const caption = node.caption ? cellText(node.caption.textContent) : '';
      const rows = content.replace(/\n{2,}/g, '\n').trim();
      return '\n\n' + (caption ? caption + '\n\n' : '') + rows + '\n\n';
    },
  });
  return td;
};

const cleaned = (dropChrome) => {
  // Copied child by child, so a huge page is not copied whole only to be cut.
  const source = document.body || document.documentElement;
  const root = source.cloneNode(false);
  let copied = 0;
  for (const child of source.childNodes) {
    if (copied > limit) {
      unread = Math.max(unread, source.textContent.length - copied);
      break;
    }
    root.appendChild(child.cloneNode(true));
    copied += (child.textContent || '').length;
  }
  cutAfter(root);
  markLanguages(root);
  root.querySelectorAll(DROP + (dropChrome ? ',' + CHROME : '')).forEach((n) => n.remove());
  return root;
};

// The page's own landmark for its main content (`<main>`, role=main, one `<article>`) when it holds most of the
// page's words: taking it as it is costs a fraction of Readability's scoring passes, on the pages that have one.
const landmark = () => {
  const body = document.body;
  if (!body) return null;
  const total = body.textContent.length;
  let best = null;
  let bestLength = 0;
  for (const el of body.querySelectorAll('main, [role=main], article')) {
    if (el.parentElement && el.parentElement.closest('nav, aside, footer, [role=navigation]')) continue;
    const length = el.textContent.length;
    if (length > bestLength) {
      best = el;
      bestLength = length;
    }
  }
  if (!best || bestLength < 200 || bestLength < total * 0.3) return null;
  const root = best.cloneNode(true);
  cutAfter(root);
  markLanguages(root);
  root.querySelectorAll(DROP + ',nav,aside,footer,[role=navigation]').forEach((n) => n.remove());
  return root.textContent.trim() ? root : null;
};

const mainContent = () => {
  // Past this many elements Readability refuses anyway; copying the page for it first would cost seconds.
  if (document.getElementsByTagName('*').length > opts.maxElements) return null;
  const doc = document.cloneNode(true);
  if (doc.body) cutAfter(doc.body);
  markLanguages(doc);
  doc.querySelectorAll(DROP).forEach((n) => n.remove());
  try {
    const article = new Readability(doc, { serializer: (el) => el, maxElemsToParse: opts.maxElements }).parse();
    if (article && article.content && (article.textContent || '').trim()) return article;
  } catch (e) {
    // Too big or too odd for the extractor: the page without its chrome follows.
  }
  return null;
};

const clean = (md) => md.replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').trim();

let title = (document.title || '').trim();
let md;
let main = false;
const own = opts.main ? landmark() : null;
const article = opts.main && !own ? mainContent() : null;
if (own) {
  main = true;
  md = clean(turndown().turndown(own));
} else if (article) {
  main = true;
  title = (article.title || title).trim();
  md = clean(turndown().turndown(article.content));
} else {
  md = clean(turndown().turndown(cleaned(opts.main)));
}
let heading = title.replace(/\s+/g, ' ');
// "Introduction — Python 3.12 documentation": the page's own heading is the part that names this page.
const h1 = document.querySelector('h1');
const named = h1 ? h1.textContent.replace(/[¶#]\s*$/, '').replace(/\s+/g, ' ').trim() : '';
if (named && named.length < heading.length && heading.startsWith(named)) heading = named;
if (heading && !md.startsWith('# ') && !md.split('\n').includes('# ' + heading)) md = '# ' + heading + '\n\n' + md;
return { title: document.title, markdown: md.slice(0, opts.cap), total: md.length + unread, main };
