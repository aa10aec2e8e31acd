// The page: hash routes to pages, the connection banner, and the live model (store.js).
import { onChange, start, store } from './store.js';
import * as pages from './pages.js';

const main = document.getElementById('page');
const banner = document.getElementById('connection');
const leader = document.getElementById('leader');
let current;
let seen = -1;

const ROUTES = [
  [/^\/$/, 'overview', () => ({})],
  [/^\/frameworks$/, 'frameworks', () => ({})],
  [/^\/frameworks\/([^/]+)$/, 'framework', (m) => ({ id: decodeURIComponent(m[1]) })],
  [/^\/agents$/, 'agents', () => ({})],
  [/^\/agents\/([^/]+)$/, 'agent', (m) => ({ id: decodeURIComponent(m[1]) })],
  [/^\/tasks$/, 'tasks', () => ({})],
  [/^\/tasks\/([^/]+)\/([^/]+)$/, 'task', (m) => ({ frameworkId: decodeURIComponent(m[1]), taskId: decodeURIComponent(m[2]) })],
  [/^\/roles$/, 'roles', () => ({})],
  [/^\/offers$/, 'offers', () => ({})],
  [/^\/maintenance$/, 'maintenance', () => ({})],
];

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = hash.split('?');
  const query = new URLSearchParams(qs ?? '');
  current?.unmount?.();
  current = undefined;
  for (const [re, name, params] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    current = pages[name];
    document
      .querySelectorAll('header nav a')
      .forEach((a) => a.classList.toggle('active', a.dataset.nav === name || `${a.dataset.nav}` === name.replace(/s?$/, 's')));
    main.dataset.page = name;
    current.mount(main, { ...params(m), query });
    seen = store.revision;
    return;
  }
  main.innerHTML = `<h1>Not found</h1><p><a href="#/">Overview</a></p>`;
}

function showLink() {
  if (store.link === 'lost') {
    banner.className = 'banner lost';
    banner.textContent = `The connection to the master is lost (since ${new Date(store.lostSince).toLocaleTimeString()}): reconnecting…`;
  } else if (store.link === 'up' && Date.now() - store.backAt < 10_000) {
    banner.className = 'banner back';
    banner.textContent = 'Connected to the master again: the page is up to date.';
  } else {
    banner.className = 'banner hidden';
    banner.textContent = '';
  }
  document.body.dataset.link = store.link;
  const m = store.master;
  leader.textContent = m ? `leader ${m.master_info.hostname}:${m.master_info.port}` : '';
}

onChange(() => {
  showLink();
  if (current && seen !== store.revision) {
    seen = store.revision;
    current.update();
  }
});
setInterval(showLink, 1000);
window.addEventListener('hashchange', route);
route();
start();
