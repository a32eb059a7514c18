// The mock's study browser: plain JavaScript over the mock's own DICOMweb API.
// Every URL is relative to this page, so the page works behind a reverse proxy path.
'use strict';

// location.origin + pathname: never the user:password@ of the address bar (fetch refuses such URLs).
const PAGE = new URL('.', location.origin + location.pathname);
const ROOT = new URL(document.body.dataset.root, PAGE);
const JSON_TYPE = 'application/dicom+json';
const STUDY_FIELDS = ['00081030', '00080061', '00201206', '00201208', '00100030', '00100040'];
let keywords = {};

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) el.setAttribute(k, v);
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : String(c ?? ''));
  return el;
}

function dwUrl(path, params) {
  const u = new URL(path, ROOT);
  for (const [k, v] of params || []) u.searchParams.append(k, v);
  return u;
}

function logRequest(method, u) {
  const list = document.getElementById('requests');
  list.append(h('li', {}, method + ' ', h('a', { href: u.href, target: '_blank' }, u.href)));
}

async function qido(path, params) {
  const u = dwUrl(path, params);
  logRequest('GET', u);
  const r = await fetch(u, { headers: { Accept: JSON_TYPE } });
  if (r.status === 204) return [];
  if (!r.ok) throw new Error(`${r.status} ${r.statusText}: ${(await r.text()).trim()}`);
  return r.json();
}

// A Person Name as people write it: "DOE^JOHN" -> "DOE, JOHN".
function personName(v) {
  const [family, ...rest] = (v.Alphabetic ?? '').split('^');
  const given = rest.filter(Boolean).join(' ');
  return given ? `${family}, ${given}` : family;
}

function text(v) { return v !== null && typeof v === 'object' ? personName(v) : String(v); }

function first(ds, tag) {
  const e = ds && ds[tag];
  return e && e.Value && e.Value.length ? text(e.Value[0]) : '';
}

function all(ds, tag) {
  const e = ds && ds[tag];
  return e && e.Value ? e.Value.map(text) : [];
}

function fmtDate(d) { return /^\d{8}$/.test(d) ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}` : d; }

function show(...nodes) {
  const view = document.getElementById('view');
  view.replaceChildren(...nodes);
}

function crumbs(...items) {
  document.getElementById('crumbs').replaceChildren(
    ...items.flatMap((it, i) => [i ? ' / ' : '', it.href ? h('a', { href: it.href }, it.text) : it.text]));
}

function failed(err) {
  show(h('p', { class: 'error' }, 'Request failed: ' + err.message));
}

// -- patients and studies ---------------------------------------------------------------------

async function studiesView(query) {
  crumbs({ text: 'Patients and studies' });
  const form = h('form', { class: 'search', id: 'search' },
    h('label', {}, 'Patient name', h('input', { name: 'name', value: query.get('name') || '', placeholder: 'e.g. doe' })),
    h('label', {}, 'Patient ID', h('input', { name: 'id', value: query.get('id') || '' })),
    h('label', {}, 'Study date', h('input', { name: 'date', value: query.get('date') || '', placeholder: '20200101-20201231' })),
    h('label', {}, 'Modality', h('input', { name: 'modality', value: query.get('modality') || '', size: 6 })),
    h('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v.trim()) q.set(k, v.trim());
    location.hash = '#/?' + q.toString();
  });
  const params = STUDY_FIELDS.map((f) => ['includefield', f]);
  if (query.get('name')) params.push(['PatientName', `*${query.get('name')}*`]);
  if (query.get('id')) params.push(['PatientID', query.get('id')]);
  if (query.get('date')) params.push(['StudyDate', query.get('date')]);
  if (query.get('modality')) params.push(['ModalitiesInStudy', query.get('modality').toUpperCase()]);
  show(form, h('p', {}, 'Searching...'));
  const studies = await qido('studies', params);
  const byPatient = new Map();
  for (const s of studies) {
    const key = first(s, '00100020') + '\u0000' + first(s, '00100010');
    if (!byPatient.has(key)) byPatient.set(key, []);
    byPatient.get(key).push(s);
  }
  const rows = [];
  for (const list of byPatient.values()) {
    const p = list[0];
    rows.push(h('tr', { class: 'patient' }, h('td', { colspan: 6 },
      `${first(p, '00100010') || '(no name)'} - ID ${first(p, '00100020') || '(none)'}`,
      first(p, '00100030') ? ` - born ${fmtDate(first(p, '00100030'))}` : '',
      first(p, '00100040') ? ` - ${first(p, '00100040')}` : '')));
    for (const s of list) {
      const uid = first(s, '0020000D');
      rows.push(h('tr', { class: 'study' },
        h('td', { class: 'date' }, fmtDate(first(s, '00080020'))),
        h('td', {}, h('a', { href: `#/study/${encodeURIComponent(uid)}`, class: 'study-link' },
          first(s, '00081030') || '(no description)')),
        h('td', {}, all(s, '00080061').join(', ')),
        h('td', {}, first(s, '00080050')),
        h('td', {}, `${first(s, '00201206')} series, ${first(s, '00201208')} instances`),
        h('td', { class: 'tag' }, uid)));
    }
  }
  const summary = `${studies.length} stud${studies.length === 1 ? 'y' : 'ies'} of ${byPatient.size} patient(s)`;
  show(form, h('p', { id: 'summary' }, summary),
    h('table', { id: 'studies' },
      h('thead', {}, h('tr', {}, ['Date', 'Description', 'Modalities', 'Accession', 'Size', 'Study Instance UID']
        .map((t) => h('th', {}, t)))),
      h('tbody', {}, rows)));
}

// -- a study's series ---------------------------------------------------------------------------

async function studyView(study) {
  const base = `studies/${study}`;
  const [[info], series, instances] = await Promise.all([
    qido('studies', [['StudyInstanceUID', study], ['includefield', '00081030']]),
    qido(`${base}/series`), qido(`${base}/instances`)]);
  const title = info ? `${first(info, '00100010')} - ${first(info, '00081030') || 'study'} `
    + `(${fmtDate(first(info, '00080020'))})` : `Study ${study}`;
  crumbs({ text: 'Patients and studies', href: '#/' }, { text: title });
  const cards = series.map((se) => {
    const uid = first(se, '0020000E');
    const thumb = dwUrl(`${base}/series/${uid}/thumbnail`);
    logRequest('GET', thumb);
    const items = instances.filter((i) => first(i, '0020000E') === uid)
      .sort((a, b) => Number(first(a, '00200013')) - Number(first(b, '00200013')));
    return h('div', { class: 'card' },
      h('img', { class: 'thumbnail', alt: `thumbnail of series ${first(se, '00200011')}`, src: thumb.href,
        onerror: (ev) => { ev.target.alt = 'no thumbnail'; ev.target.classList.add('missing'); } }),
      h('div', {}, h('strong', {}, `#${first(se, '00200011')} ${first(se, '00080060')}`), ' ',
        first(se, '0008103E') || ''),
      h('div', { class: 'hint' }, `${items.length} instance(s)`),
      h('ul', {}, items.slice(0, 50).map((i) => h('li', {}, h('a', {
        class: 'instance-link',
        href: `#/instance/${study}/${uid}/${first(i, '00080018')}`,
      }, `instance ${first(i, '00200013') || first(i, '00080018')}`)))));
  });
  show(h('h2', {}, title), h('p', { class: 'hint' }, `Study Instance UID ${study}`),
    h('div', { class: 'series', id: 'series' }, cards));
}

// -- an instance --------------------------------------------------------------------------------

function valueText(e) {
  if (e.BulkDataURI) return h('a', { href: new URL(e.BulkDataURI, ROOT).href, target: '_blank' }, 'bulk data');
  if (e.InlineBinary !== undefined) return `(inline binary, ${Math.floor(e.InlineBinary.length * 3 / 4)} bytes)`;
  if (!e.Value) return '';
  const joined = e.Value.map((v) => (v !== null && typeof v === 'object' ? v.Alphabetic ?? JSON.stringify(v) : v))
    .join('\\');
  return joined.length > 200 ? joined.slice(0, 200) + '...' : joined;
}

function metadataRows(ds, depth) {
  const rows = [];
  for (const tag of Object.keys(ds).sort()) {
    const e = ds[tag];
    const name = keywords[tag] || '';
    const pad = { class: 'tag', style: `padding-left:${0.5 + depth * 1.5}rem` };
    if (e.vr === 'SQ') {
      rows.push(h('tr', {}, h('td', pad, tag), h('td', {}, name), h('td', {}, e.vr),
        h('td', {}, `${(e.Value || []).length} item(s)`)));
      (e.Value || []).forEach((item) => { rows.push(...metadataRows(item, depth + 1)); });
    } else {
      rows.push(h('tr', {}, h('td', pad, tag), h('td', {}, name), h('td', {}, e.vr || ''), h('td', {}, valueText(e))));
    }
  }
  return rows;
}

async function instanceView(study, series, instance) {
  const base = `studies/${study}/series/${series}/instances/${instance}`;
  const [meta] = await qido(`${base}/metadata`);
  crumbs({ text: 'Patients and studies', href: '#/' }, { text: `Study ${study}`, href: `#/study/${study}` },
    { text: `Instance ${instance}` });
  const frames = h('div', { class: 'frames', id: 'frames' });
  if (meta['7FE00010'] || meta['7FE00008'] || meta['7FE00009']) {
    const count = Math.max(1, Number(first(meta, '00280008')) || 1);
    for (let n = 1; n <= Math.min(count, 32); n += 1) {
      const u = dwUrl(`${base}/frames/${n}/rendered`);
      logRequest('GET', u);
      frames.append(h('figure', {}, h('img', { src: u.href, alt: `frame ${n}` }), h('figcaption', {}, `frame ${n}`)));
    }
    if (count > 32) frames.append(h('p', { class: 'hint' }, `${count - 32} more frame(s) not shown`));
  } else {
    frames.append(h('p', { class: 'hint' }, 'No pixel data.'));
  }
  show(h('h2', {}, `Instance ${instance}`),
    h('h3', {}, 'Frames (rendered)'), frames,
    h('h3', {}, 'Metadata'),
    h('table', { id: 'metadata' }, h('thead', {}, h('tr', {}, ['Tag', 'Keyword', 'VR', 'Value'].map((t) => h('th', {}, t)))),
      h('tbody', {}, metadataRows(meta, 0))));
}

// -- upload (STOW-RS) -------------------------------------------------------------------------

async function store(files) {
  const boundary = 'mock-browser-' + Math.random().toString(16).slice(2);
  const enc = new TextEncoder();
  const parts = [];
  for (const f of files) {
    parts.push(enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), f, enc.encode('\r\n'));
  }
  parts.push(enc.encode(`--${boundary}--\r\n`));
  const u = dwUrl('studies');
  logRequest('POST', u);
  const r = await fetch(u, {
    method: 'POST',
    headers: { Accept: JSON_TYPE, 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}` },
    body: new Blob(parts),
  });
  const type = r.headers.get('Content-Type') || '';
  if (!type.includes('json')) throw new Error(`${r.status} ${(await r.text()).trim()}`);
  const body = await r.json();
  const stored = (body['00081199'] && body['00081199'].Value) || [];
  const refused = ((body['00081198'] && body['00081198'].Value) || []).length
    + ((body['0008119A'] && body['0008119A'].Value) || []).length;
  const warning = r.headers.get('Warning');
  return { status: r.status, stored: stored.length, refused, warning };
}

document.getElementById('upload').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = document.getElementById('upload-files');
  const out = document.getElementById('upload-result');
  if (!input.files.length) { out.textContent = 'Choose .dcm files first.'; return; }
  out.className = '';
  out.textContent = 'Storing...';
  try {
    const res = await store([...input.files]);
    out.className = res.refused ? 'error' : 'ok';
    out.textContent = `HTTP ${res.status}: ${res.stored} stored, ${res.refused} refused`
      + (res.warning ? ` (${res.warning})` : '');
    input.value = '';
    if (res.stored) route();
  } catch (err) {
    out.className = 'error';
    out.textContent = 'Upload failed: ' + err.message;
  }
});

// -- routing ------------------------------------------------------------------------------------

async function route() {
  document.getElementById('requests').replaceChildren();
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === 'study' && parts.length === 2) await studyView(parts[1]);
    else if (parts[0] === 'instance' && parts.length === 4) await instanceView(parts[1], parts[2], parts[3]);
    else await studiesView(new URLSearchParams(query || ''));
  } catch (err) {
    failed(err);
  }
}

const rootLink = document.getElementById('root-link');
rootLink.href = ROOT.href;
rootLink.textContent = ROOT.href;
window.addEventListener('hashchange', route);
fetch(new URL('_browser/keywords.json', PAGE)).then((r) => (r.ok ? r.json() : {})).then((k) => { keywords = k; })
  .catch(() => {}).finally(route);
