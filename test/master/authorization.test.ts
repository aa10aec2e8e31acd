/**
 * Mesos ACLs (`--acls`): how an ACL list decides (first match, ANY/NONE/values, requests without
 * a principal, permissive), every parse error naming the place, and each action's hook in the
 * master (tier 1: a real Master with a fake clock): register_frameworks → ERROR on the stream,
 * run_tasks → TASK_ERROR with REASON_TASK_UNAUTHORIZED, reserve/unreserve/create/destroy from
 * a framework → the operation dropped, from the operator endpoints → 403, nothing changed.
 */
import test from 'ava';
import { Resources, type Resource, type ResourceInput, resource } from '../../lib/common/resources/index.ts';
import { Authorizer, loadAcls } from '../../lib/master/authorization.ts';
import { MasterRefusal } from '../../lib/master/errors.ts';
import { refusalStatus } from '../../lib/master/http/status.ts';
import type { Offer, Operation } from '../../lib/proto/messages.ts';
import { Harness, type TestFramework, commandTask, frameworkInfo } from '../helpers/master_harness.ts';

/** An operator operation's answer (status and text), as the /master/reserve … handlers give it. */
function answer(operation: () => void): { status: number; message: string } {
  try {
    operation();
    return { status: 202, message: '' };
  } catch (e) {
    if (!(e instanceof MasterRefusal)) throw e;
    return { status: refusalStatus(e), message: e.message };
  }
}

const acls = (doc: object) => Authorizer.parse(JSON.stringify(doc), 'acls.json');
const some = (...values: string[]) => ({ values });
const ANY = { type: 'ANY' };
const NONE = { type: 'NONE' };

test('the first ACL whose subject and object both match decides; NONE denies; no match → permissive', (t) => {
  const a = acls({
    permissive: false,
    run_tasks: [
      { principals: some('ops'), users: ANY },
      { principals: some('web', 'batch'), users: some('nobody') },
      { principals: ANY, users: some('root') }, // matches anyone asking for root …
      { principals: some('web'), users: NONE }, // … so this comes too late for root
    ],
  });
  t.true(a.authorize('run_tasks', 'ops', 'root'));
  t.true(a.authorize('run_tasks', 'web', 'nobody'));
  t.true(a.authorize('run_tasks', 'web', 'root'));
  t.false(a.authorize('run_tasks', 'web', 'www-data')); // the NONE rule
  t.false(a.authorize('run_tasks', 'batch', 'www-data')); // nothing matches: not permissive
  t.true(a.authorize('run_tasks', undefined, 'root')); // ANY matches a request without a principal
  t.false(a.authorize('run_tasks', undefined, 'nobody')); // a values list never does
  t.true(a.authorize('register_frameworks', 'anyone', 'anyrole') === false); // no ACLs for it: permissive=false
  const permissive = acls({ register_frameworks: [{ principals: some('web'), roles: NONE }] });
  t.false(permissive.authorize('register_frameworks', 'web', 'x'));
  t.true(permissive.authorize('register_frameworks', 'other', 'x'));
  const noneSubject = acls({ teardown_frameworks: [{ principals: NONE, framework_principals: some('prod') }] });
  t.false(noneSubject.authorize('teardown_frameworks', 'ops', 'prod'));
  t.false(noneSubject.authorize('teardown_frameworks', undefined, 'prod'));
  t.true(noneSubject.authorize('teardown_frameworks', 'ops', 'dev'));
  t.true(Authorizer.ALLOW_ALL.authorize('run_tasks', undefined, 'root'));
});

test('0.2x names load: shutdown_frameworks, resources and volume_types objects; later Mesos kinds are listed as ignored', (t) => {
  const a = acls({
    shutdown_frameworks: [
      { principals: some('ops'), framework_principals: ANY },
      { principals: ANY, framework_principals: NONE },
    ],
    reserve_resources: [
      { principals: some('ops'), resources: ANY },
      { principals: ANY, resources: NONE },
    ],
    create_volumes: [
      { principals: some('ops'), volume_types: ANY },
      { principals: ANY, volume_types: NONE },
    ],
    get_quotas: [{ principals: ANY, roles: ANY }],
    get_endpoints: [{ principals: ANY, paths: ANY }],
  });
  t.true(a.authorize('teardown_frameworks', 'ops', 'x'));
  t.false(a.authorize('teardown_frameworks', 'dev', 'x'));
  t.true(a.authorize('reserve_resources', 'ops', 'web'));
  t.false(a.authorize('reserve_resources', 'dev', 'web'));
  t.false(a.authorize('create_volumes', undefined, 'web'));
  t.deepEqual(a.ignored, ['get_quotas', 'get_endpoints']);
});

test('bad ACLs: each problem is named with the file and the field', (t) => {
  const msg = (text: string) => t.throws(() => Authorizer.parse(text, '/etc/corral/acls.json'))!.message;
  t.regex(msg('{"run_tasks": ['), /^\/etc\/corral\/acls\.json: is not valid JSON: /);
  t.is(msg('[]'), '/etc/corral/acls.json: ACLs: must be a JSON object');
  t.is(msg('{"permissive": "false"}'), '/etc/corral/acls.json: permissive: must be true or false');
  t.regex(msg('{"run_task": []}'), /^\/etc\/corral\/acls\.json: run_task: unknown ACL kind \(known: permissive, register_frameworks, run_tasks, /);
  t.is(msg('{"run_tasks": {}}'), '/etc/corral/acls.json: run_tasks: must be an array of ACLs');
  t.is(msg('{"run_tasks": [{"users": {"type": "ANY"}}]}'), '/etc/corral/acls.json: run_tasks[0].principals: is required');
  t.is(msg('{"run_tasks": [{"principals": {"type": "ANY"}}]}'), '/etc/corral/acls.json: run_tasks[0].users: is required');
  t.is(
    msg('{"run_tasks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}]}'),
    "/etc/corral/acls.json: run_tasks[0].roles: unknown field (expected 'principals' and one of 'users')",
  );
  t.is(
    msg('{"run_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "ALL"}}]}'),
    "/etc/corral/acls.json: run_tasks[0].users.type: 'ALL' is not ANY, NONE or SOME",
  );
  t.is(
    msg('{"run_tasks": [{"principals": {"values": []}, "users": {"type": "ANY"}}]}'),
    '/etc/corral/acls.json: run_tasks[0].principals.values: must be a non-empty array of strings',
  );
  t.is(
    msg('{"run_tasks": [{"principals": {"values": ["a", 3]}, "users": {"type": "ANY"}}]}'),
    '/etc/corral/acls.json: run_tasks[0].principals.values[1]: must be a non-empty string',
  );
  t.is(
    msg('{"run_tasks": [{"principals": {"type": "ANY", "values": ["a"]}, "users": {"type": "ANY"}}]}'),
    '/etc/corral/acls.json: run_tasks[0].principals.values: cannot be given with type ANY',
  );
  t.is(
    msg('{"run_tasks": [{"principals": "ops", "users": {"type": "ANY"}}]}'),
    '/etc/corral/acls.json: run_tasks[0].principals: must be {"values": [...]}, {"type": "ANY"} or {"type": "NONE"}',
  );
  t.is(
    msg('{"reserve_resources": [{"principals": {"type": "ANY"}, "resources": {"values": ["cpus"]}}]}'),
    '/etc/corral/acls.json: reserve_resources[0].resources: only {"type": "ANY"} or {"type": "NONE"} is meaningful here',
  );
  t.is(
    msg('{"reserve_resources": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}, "resources": {"type": "ANY"}}]}'),
    "/etc/corral/acls.json: reserve_resources[0]: has both 'roles' and 'resources'; give one",
  );
  // Inline (a file:// value arrives as the file's text): the place says so.
  t.is(t.throws(() => loadAcls('{"permissive": 1}'))!.message, 'inline value: permissive: must be true or false');
});

// ---------------------------------------------------------------------------------------------
// The master's hooks

const dyn = (name: string, v: number, role = 'web', principal = 'web-p'): Resource => resource(name, v, { role, reservation: { principal } });
const vol = (id: string, size: number, role = 'web', principal = 'web-p'): Resource =>
  resource('disk', size, { role, reservation: { principal }, disk: { persistence: { id, principal }, volume: { mode: 'RW', containerPath: id } } });
const input = (r: Resource): ResourceInput => r as unknown as ResourceInput;
const op = {
  reserve: (...rs: Resource[]): Operation => ({ type: 'RESERVE', reserve: { resources: rs.map(input) } }),
  unreserve: (...rs: Resource[]): Operation => ({ type: 'UNRESERVE', unreserve: { resources: rs.map(input) } }),
  create: (...rs: Resource[]): Operation => ({ type: 'CREATE', create: { volumes: rs.map(input) } }),
  destroy: (...rs: Resource[]): Operation => ({ type: 'DESTROY', destroy: { volumes: rs.map(input) } }),
};

function accept(fw: TestFramework, offer: Offer, operations: Operation[]): void {
  fw.call({ type: 'ACCEPT', frameworkId: fw.id, accept: { offerIds: [offer.id], operations } });
}
const lastOffer = (fw: TestFramework): Offer => fw.offers().at(-1)!;

test('register_frameworks: a framework whose principal may not use its role gets ERROR and is not registered', async (t) => {
  const h = await Harness.start(undefined, {
    authorizer: acls({
      register_frameworks: [
        { principals: some('web-p'), roles: some('web') },
        { principals: ANY, roles: NONE },
      ],
    }),
  });
  t.truthy(h.framework(frameworkInfo({ role: 'web', principal: 'web-p' })).id);
  const refused = h.framework(frameworkInfo({ role: 'prod', principal: 'batch-p' }));
  t.is(refused.id, '');
  t.deepEqual(refused.sink.events, [{ type: 'ERROR', error: { message: "Framework is not authorized to register with role 'prod'" } }]);
  t.true(refused.sink.closed);
  // Without a principal only the ANY rule matches: NONE.
  t.is(h.framework(frameworkInfo({ role: 'web' })).id, '');
  // A re-subscription is checked again.
  const fw = h.master.frameworks.values().next().value!;
  t.is(h.framework(frameworkInfo({ id: fw.id, role: 'prod', principal: 'web-p' })).id, '');
  t.is(h.master.frameworks.size, 1);
  h.master.stop();
});

test('run_tasks: a task whose user the principal may not use gets TASK_ERROR/REASON_TASK_UNAUTHORIZED; the others in the same ACCEPT launch', async (t) => {
  const h = await Harness.start(undefined, {
    authorizer: acls({
      permissive: false,
      register_frameworks: [{ principals: ANY, roles: ANY }],
      run_tasks: [{ principals: some('web-p'), users: some('nobody') }],
    }),
  });
  const agent = await h.agent();
  const fw = h.framework(frameworkInfo({ principal: 'web-p', user: 'nobody' }));
  h.tick(0);
  const offer = lastOffer(fw);
  const asRoot = commandTask(offer, 'as-root');
  const asRootTask = { ...asRoot, command: { ...asRoot.command!, user: 'root' } };
  fw.launch(offer, [commandTask(offer, 'ok', 'cpus:1;mem:64'), asRootTask]);
  const [update] = fw.updates();
  t.like(update, {
    taskId: 'as-root',
    state: 'TASK_ERROR',
    reason: 'REASON_TASK_UNAUTHORIZED',
    source: 'SOURCE_MASTER',
    message: "Not authorized to run tasks as user 'root'",
  });
  t.deepEqual(
    agent.runTasks().map((r) => r.task.taskId),
    ['ok'],
  );
  t.is(h.master.metrics.get('master/task_error/source_master/reason_task_unauthorized'), 1);
  // A framework without a principal matches no values list: not permissive → refused.
  const anon = h.framework(frameworkInfo({ name: 'anon', user: 'nobody' }));
  fw.call({ type: 'SUPPRESS', frameworkId: fw.id });
  h.tick(6000);
  const o2 = lastOffer(anon);
  anon.launch(o2, [commandTask(o2, 'anon-task', 'cpus:1;mem:64')]);
  t.like(anon.updates()[0], { taskId: 'anon-task', state: 'TASK_ERROR', reason: 'REASON_TASK_UNAUTHORIZED' });
  h.master.stop();
});

test('framework operations: a denied RESERVE / CREATE / UNRESERVE / DESTROY is dropped and changes nothing; allowed ones apply', async (t) => {
  const rules = {
    reserve_resources: [
      { principals: some('web-p'), roles: some('web') },
      { principals: ANY, roles: NONE },
    ],
    create_volumes: [
      { principals: some('web-p'), roles: some('web') },
      { principals: ANY, roles: NONE },
    ],
    unreserve_resources: [{ principals: ANY, reserver_principals: NONE }],
    destroy_volumes: [{ principals: ANY, creator_principals: NONE }],
  };
  const h = await Harness.start(undefined, { authorizer: acls(rules) });
  const agent = await h.agent('cpus:4;mem:1024;disk:1000');
  const web = h.framework(frameworkInfo({ role: 'web', principal: 'web-p' }));
  h.tick(0);
  accept(web, lastOffer(web), [op.reserve(dyn('disk', 500)), op.create(vol('v1', 200))]);
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 2);
  h.tick(6000);
  accept(web, lastOffer(web), [op.destroy(vol('v1', 200)), op.unreserve(dyn('disk', 300))]);
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 2, 'destroy and unreserve were denied');
  t.true(h.master.agents.get(agent.id)!.checkpointed.equals(Resources.of([dyn('disk', 300), vol('v1', 200)])));
  // A framework of another principal in role 'db' may not reserve at all.
  web.call({ type: 'SUPPRESS', frameworkId: web.id });
  const db = h.framework(frameworkInfo({ role: 'db', principal: 'db-p' }));
  h.tick(6000);
  accept(db, lastOffer(db), [op.reserve(dyn('cpus', 1, 'db', 'db-p'))]);
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 2);
  h.master.stop();
});

test('operator operations: 403 with the reason when the ACLs deny, nothing applied; allowed for the right principal', async (t) => {
  const h = await Harness.start(undefined, {
    authorizer: acls({
      reserve_resources: [
        { principals: some('ops'), roles: ANY },
        { principals: ANY, roles: NONE },
      ],
    }),
  });
  const agent = await h.agent('cpus:4;mem:1024;disk:1000');
  const cpus = [input(dyn('cpus', 1, 'web', 'dev'))];
  t.deepEqual(
    answer(() => h.master.operatorOperation(agent.id, 'RESERVE', cpus, 'dev')),
    {
      status: 403,
      message: "Not authorized: principal 'dev' may not reserve resources for role 'web'",
    },
  );
  t.deepEqual(answer(() => h.master.operatorOperation(agent.id, 'RESERVE', [input(dyn('cpus', 1, 'web', 'ops'))])).status, 403);
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 0);
  t.deepEqual(
    answer(() => h.master.operatorOperation(agent.id, 'RESERVE', [input(dyn('cpus', 1, 'web', 'ops'))], 'ops')),
    { status: 202, message: '' },
  );
  t.is(agent.sink.of('CHECKPOINT_RESOURCES').length, 1);
  h.master.stop();
});
