/**
 * The web UI in a real browser: Debian's chromium, headless, driven by playwright-core, against
 * a real cluster (master and agent on loopback, HTTP authentication on). What an operator sees:
 * the login, the overview with the agent, a task launched through the scheduler API appearing
 * and reaching FINISHED without a reload, its history, its sandbox and the live tail of its
 * stdout, the agent's containers with their charts, the other pages, and the master going away
 * and coming back. Screenshots of each page go to tmp/webui-screenshots/ (for a person to look
 * at). Without chromium the tests skip; with CI=true they fail.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { SECRETS, commonAuthFiles } from '../helpers/auth_fixture.ts';
import { type Cluster, commandTask, frameworkInfo, request, startCluster } from '../helpers/cluster.ts';
import { inCI } from '../helpers/root.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../tmp/webui-screenshots/', import.meta.url));

const test = anyTest as TestFn;
const available = existsSync(CHROMIUM);
const maybe = available || inCI() ? test.serial : test.serial.skip;

let browser: Browser | undefined;

test.before(async () => {
  if (!available) {
    if (inCI()) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);
    return;
  }
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root chromium needs --no-sandbox; nothing may reach out to the internet.
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-default-apps', '--no-first-run'],
  });
});
test.after.always(async () => {
  await browser?.close();
});

async function authCluster(t: ExecutionContext): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), `corral-test-${process.pid}-e2e-webui-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files = commonAuthFiles(dir);
  // The agents require authentication too (the same credentials): the page reads them through the master.
  return startCluster(t, {
    masterArgs: ['--authenticate_http', `--http_credentials=${files.credentials}`],
    agentArgs: ['--authenticate_http_readonly', `--http_credentials=${files.credentials}`],
  });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

maybe(
  'an operator logs in, sees the agent, follows a task to FINISHED with its output, browses the sandbox, and sees the master go and come back',
  async (t) => {
    const c = await authCluster(t);
    const base = c.url('');

    // Without credentials: refused with a Basic challenge (the browser's login dialog).
    const anonymous = await request(c.url('/'), { method: 'GET' });
    t.is(anonymous.status, 401);
    t.regex(String(anonymous.headers['www-authenticate']), /^Basic realm="mesos-master-readonly"/);
    const wrong: BrowserContext = await browser!.newContext({ httpCredentials: { username: 'ops', password: 'wrong' } });
    t.teardown(() => wrong.close());
    const denied = await (await wrong.newPage()).goto(`${base}/`);
    t.is(denied?.status(), 401);

    const context = await browser!.newContext({ httpCredentials: { username: 'ops', password: SECRETS.ops }, viewport: { width: 1280, height: 900 } });
    t.teardown(() => context.close());
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const loaded = await page.goto(`${base}/`);
    t.is(loaded?.status(), 200);

    // The overview: the agent, the leader, the version.
    await page.locator('#agents-count', { hasText: '1' }).waitFor();
    await page.locator('table.agents td', { hasText: 'agent0' }).waitFor();
    await page.locator('#leader', { hasText: `:${c.masterPort}` }).waitFor();
    await shot(page, 'overview');
    // A marker that a reload would lose: everything below happens without one.
    await page.evaluate('window.marker = 42');

    // A task launched through the scheduler API shows up, and reaches FINISHED, live.
    await page.goto(`${base}/#/tasks`);
    await page.evaluate('window.marker = 42');
    const fw = await c.framework(frameworkInfo({ name: 'ui-watched' }));
    await fw.launch([commandTask('ui-task', 'for i in 1 2 3 4 5 6; do echo line-$i; sleep 0.4; done')]);
    const row = page.locator('tr[data-task="ui-task"]');
    await row.locator('.state', { hasText: 'TASK_RUNNING' }).waitFor({ timeout: 15_000 });
    await shot(page, 'tasks');

    // Its page while it runs: the tail follows stdout as it grows.
    await row.locator('a').first().click();
    await page.locator('#files a', { hasText: 'stdout' }).waitFor({ timeout: 15_000 });
    await page.locator('#tail', { hasText: 'line-1' }).waitFor({ timeout: 15_000 });
    await page.locator('#tail', { hasText: 'line-6' }).waitFor({ timeout: 15_000 });
    await page.locator('#task-head .state', { hasText: 'TASK_FINISHED' }).waitFor({ timeout: 15_000 });
    const history = await page.locator('#statuses td .state').allTextContents();
    t.deepEqual(history.slice(-1), ['TASK_FINISHED']);
    t.true(history.includes('TASK_RUNNING'), history.join(' → '));
    t.regex((await page.locator('#statuses').textContent()) ?? '', /Command exited with status 0/);
    t.is(await page.evaluate('window.marker'), 42, 'no reload');
    await shot(page, 'task');
    // The sandbox browser opens a file: stderr, in the viewer.
    await page.locator('#files a', { hasText: 'stderr' }).first().click();
    await page.waitForFunction("document.querySelector('#tail')?.getAttribute('data-path')?.endsWith('/stderr')");
    const download = await page.locator('#files a[download]').first().getAttribute('href');
    t.regex(download ?? '', /\/files\/download\?path=/);

    // The agent requires authentication: read directly without credentials it refuses; the page
    // read its sandbox above, and reads its statistics below, through the master with the operator's.
    const agentAddress = c.agents[0]!.agent.options.ip + ':' + c.agents[0]!.port;
    t.is((await request(`http://${agentAddress}/monitor/statistics`, { method: 'GET' })).status, 401);
    t.is((await request(c.url(`/agent/${encodeURIComponent(c.agents[0]!.agent.id!)}/monitor/statistics`), { method: 'GET' })).status, 401);
    const proxied: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/agent/')) proxied.push(new URL(r.url()).pathname);
    });

    // The agent: a running task's container with live charts.
    await fw.launch([commandTask('ui-sleeper', 'sleep 60')]);
    await fw.update('ui-sleeper', 'TASK_RUNNING');
    const agentId = c.agents[0]!.agent.id!;
    await page.goto(`${base}/#/agents/${encodeURIComponent(agentId)}`);
    await page.locator('section.container[data-executor="ui-sleeper"] svg.chart').first().waitFor({ timeout: 15_000 });
    await page.waitForFunction("(document.querySelector('section.container polyline')?.getAttribute('points') ?? '').split(' ').length >= 3", undefined, {
      timeout: 15_000,
    });
    await shot(page, 'agent');
    t.true(
      proxied.some((p) => p.endsWith('/monitor/statistics')),
      proxied.join(' '),
    );

    for (const [name, hash, sel] of [
      ['frameworks', '#/frameworks', 'td'],
      ['framework', `#/frameworks/${encodeURIComponent(fw.frameworkId)}`, 'svg.chart'],
      ['agents', '#/agents', 'table.agents'],
      ['roles', '#/roles', 'h2'],
      ['offers', '#/offers', 'h1'],
      ['maintenance', '#/maintenance', 'p'],
    ] as const) {
      await page.goto(`${base}/${hash}`);
      await page.locator(`main ${sel}`).first().waitFor();
      await shot(page, name);
    }
    t.regex((await page.locator('main').textContent()) ?? '', /Corral does not implement them/);

    // The master goes away: the page says so; it comes back: the page says that too.
    await page.goto(`${base}/#/`);
    await page.locator('#agents-count', { hasText: '1' }).waitFor();
    await c.stopMaster();
    await page.locator('#connection.lost', { hasText: 'connection to the master is lost' }).waitFor({ timeout: 15_000 });
    await shot(page, 'master-lost');
    await c.startMaster();
    await page.locator('#connection.back', { hasText: 'Connected to the master again' }).waitFor({ timeout: 30_000 });
    await page.locator('#agents-count', { hasText: '1' }).waitFor({ timeout: 15_000 });
    await shot(page, 'master-back');
    t.deepEqual(errors, [], 'no script errors');
  },
);

maybe('the tasks page with 100,000 tasks: search, filter and page quickly; the files are small and cached', async (t) => {
  const c = await authCluster(t);
  const base = c.url('');
  const context = await browser!.newContext({ httpCredentials: { username: 'ops', password: SECRETS.ops } });
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(`${base}/#/tasks`);
  await page.locator('#task-list').waitFor();
  // 100,000 tasks put into the page's model, as SUBSCRIBED would bring them.
  const render = (await page.evaluate(`(async () => {
    const { store } = await import('/ui/store.js');
    const states = ['TASK_RUNNING', 'TASK_FINISHED', 'TASK_FAILED'];
    for (let i = 0; i < 100000; i++) {
      const id = 'bulk-' + i;
      store.tasks.set('fw/' + id, {
        name: 'bulk ' + i,
        task_id: { value: id },
        framework_id: { value: 'fw' },
        agent_id: { value: 'a' },
        state: states[i % 3],
        resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }],
        statuses: [{ state: states[i % 3], timestamp: 1700000000 + i }],
      });
    }
    store.revision++;
    const t0 = performance.now();
    window.dispatchEvent(new HashChangeEvent('hashchange'));
    return performance.now() - t0;
  })()`)) as number;
  await page.locator('.pager', { hasText: '100000 tasks' }).waitFor();
  t.log(`tasks page with 100,000 tasks rendered in ${render.toFixed(0)} ms`);
  t.true(render < 2000, `${render} ms`);
  await page.locator('#task-search').fill('bulk-9999');
  await page.locator('.pager', { hasText: '11 tasks' }).waitFor();
  const searchMs = Number(await page.locator('main').getAttribute('data-render-ms'));
  t.log(`search over 100,000 tasks in ${searchMs.toFixed(0)} ms`);
  t.true(searchMs < 1000);
  await page.locator('#task-search').fill('');
  await page.locator('#task-state').selectOption('TASK_FAILED');
  await page.locator('.pager', { hasText: '33333 tasks' }).waitFor();
  await page.locator('a[data-page="next"]').click();
  await page.locator('.pager', { hasText: 'page 2 of' }).waitFor();
  await shot(page, 'tasks-100k');

  // The UI's files: compressed, revalidated with an ETag, all of them well under 200 KB.
  let total = 0;
  for (const name of ['index.html', 'app.js', 'store.js', 'pages.js', 'agent_client.js', 'chart.js', 'style.css']) {
    const path = name === 'index.html' ? '/' : `/ui/${name}`;
    const auth = { Authorization: `Basic ${Buffer.from(`ops:${SECRETS.ops}`).toString('base64')}` };
    const res = await fetch(c.url(path), { headers: { ...auth, 'Accept-Encoding': 'gzip' } });
    t.is(res.status, 200, name);
    t.is(res.headers.get('content-encoding'), 'gzip');
    total += Number(res.headers.get('content-length'));
    const again = await fetch(c.url(path), { headers: { ...auth, 'If-None-Match': res.headers.get('etag')! } });
    t.is(again.status, 304, name);
  }
  t.log(`first load: ${total} bytes compressed`);
  t.true(total < 200 * 1024);

  // The master passes the UI's reads of an agent on (the agent requires authentication here).
  const auth = { Authorization: `Basic ${Buffer.from(`ops:${SECRETS.ops}`).toString('base64')}` };
  const agentId = encodeURIComponent(c.agents[0]!.agent.id!);
  const state = await fetch(c.url(`/agent/${agentId}/state`), { headers: auth });
  t.is(state.status, 200);
  t.is(((await state.json()) as { id: string }).id, c.agents[0]!.agent.id!);
  t.is((await fetch(c.url('/agent/no-such-agent/state'), { headers: auth })).status, 404);
  const other = await fetch(c.url(`/agent/${agentId}/flags`), { headers: auth });
  t.is(other.status, 404);
  t.regex(await other.text(), /passes on only these reads of an agent/);
});
