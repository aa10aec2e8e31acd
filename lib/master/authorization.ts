/**
 * Authorization with Mesos's ACLs (`--acls`, the JSON form Mesos reads):
 *
 *   {
 *     "permissive": false,
 *     "register_frameworks": [{"principals": {"values": ["marathon"]}, "roles": {"values": ["web"]}}],
 *     "run_tasks":           [{"principals": {"type": "ANY"}, "users": {"values": ["nobody"]}}],
 *     "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}],
 *     "reserve_resources":   [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
 *     "unreserve_resources": [{"principals": {"values": ["ops"]}, "reserver_principals": {"type": "ANY"}}],
 *     "create_volumes":      [{"principals": {"type": "ANY"}, "roles": {"values": ["db"]}}],
 *     "destroy_volumes":     [{"principals": {"type": "ANY"}, "creator_principals": {"type": "NONE"}}],
 *     "register_agents":     [{"principals": {"values": ["agent"]}, "agents": {"type": "ANY"}}],
 *     "view_frameworks":     [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}]
 *   }
 *
 * The view_* kinds (view_frameworks, view_tasks, view_executors by the framework's or task's
 * user; view_roles by role) filter what the operator API (`/api/v1`) shows a principal;
 * view_flags, access_mesos_logs, set_log_level, update_weights (by role) and mark_agents_gone
 * allow or deny its calls. The older JSON endpoints (/master/state …) do not filter.
 *
 * An entity is `{"values": [...]}` (some named ones), `{"type": "ANY"}` or `{"type": "NONE"}`.
 * For one action, the ACLs are tried in the order written; the first whose subject and object
 * both match the request decides. A named principal (or user, role…) matches ANY, NONE, and a
 * `values` list that holds it; an absent one (a request without a principal) matches only ANY
 * and NONE. The deciding ACL allows unless one of its two entities is NONE. When no ACL matches,
 * `permissive` decides (default true). No `--acls` at all: everything is allowed.
 *
 * 0.2x names are read too: `shutdown_frameworks` (= teardown_frameworks), the `resources`
 * object of reserve_resources and `volume_types` of create_volumes (only ANY or NONE: they
 * apply to every request of the action). ACL kinds of later Mesos versions that Corral has no
 * action for (view_frameworks, get_endpoints, …) are accepted and reported by `ignored`, so that
 * a Mesos ACL file loads; any other key is an error that names it.
 */
import { ValidationError, describeError } from '../common/errors.ts';
import { readFlagText } from '../transport/index.ts';

export type AclAction =
  | 'register_frameworks'
  | 'run_tasks'
  | 'teardown_frameworks'
  | 'reserve_resources'
  | 'unreserve_resources'
  | 'create_volumes'
  | 'destroy_volumes'
  | 'register_agents'
  // The operator API's (`/api/v1`): what a principal may see, and the calls that change the master.
  | 'view_frameworks'
  | 'view_tasks'
  | 'view_executors'
  | 'view_roles'
  | 'view_flags'
  | 'access_mesos_logs'
  | 'set_log_level'
  | 'update_weights'
  | 'mark_agents_gone';

/** Each action's subject and object field names; the first object name is the current one. */
const ACTIONS: Readonly<Record<AclAction, { readonly objects: readonly string[]; readonly anyOrNone?: readonly string[] }>> = {
  register_frameworks: { objects: ['roles'] },
  run_tasks: { objects: ['users'] },
  teardown_frameworks: { objects: ['framework_principals'] },
  reserve_resources: { objects: ['roles', 'resources'], anyOrNone: ['resources'] },
  unreserve_resources: { objects: ['reserver_principals'] },
  create_volumes: { objects: ['roles', 'volume_types'], anyOrNone: ['volume_types'] },
  destroy_volumes: { objects: ['creator_principals'] },
  register_agents: { objects: ['agents'], anyOrNone: ['agents'] },
  view_frameworks: { objects: ['users'] },
  view_tasks: { objects: ['users'] },
  view_executors: { objects: ['users'] },
  view_roles: { objects: ['roles'] },
  view_flags: { objects: ['flags'], anyOrNone: ['flags'] },
  access_mesos_logs: { objects: ['logs'], anyOrNone: ['logs'] },
  set_log_level: { objects: ['level'], anyOrNone: ['level'] },
  update_weights: { objects: ['roles'] },
  mark_agents_gone: { objects: ['agents'], anyOrNone: ['agents'] },
};

const ALIASES: Readonly<Record<string, AclAction>> = { shutdown_frameworks: 'teardown_frameworks' };

/** ACL kinds of later Mesos versions that name actions Corral does not have (yet). */
const NOT_ENFORCED = new Set([
  'get_endpoints',
  'view_agents',
  'access_sandboxes',
  'get_quotas',
  'update_quotas',
  'set_quotas',
  'remove_quotas',
  'get_maintenance_schedules',
  'update_maintenance_schedules',
  'get_maintenance_status',
  'start_maintenances',
  'stop_maintenances',
  'register_agents_with_roles',
  'launch_nested_containers',
  'launch_nested_container_sessions',
  'attach_containers_input',
  'attach_containers_output',
  'kill_nested_containers',
  'wait_nested_containers',
  'view_containers',
  'view_standalone_containers',
  'mark_resource_providers_gone',
  'modify_resource_provider_configs',
  'prune_images',
  'resize_volume',
  'view_resource_providers',
  'launch_standalone_containers',
  'kill_standalone_containers',
  'wait_standalone_containers',
  'remove_standalone_containers',
  'get_operations',
  'update_frameworks',
  'create_block_disks',
  'destroy_block_disks',
  'create_mount_disks',
  'destroy_mount_disks',
  'create_raw_disks',
  'destroy_raw_disks',
  'drain_agents',
  'deactivate_agents',
  'reactivate_agents',
]);

type Entity = { readonly kind: 'ANY' } | { readonly kind: 'NONE' } | { readonly kind: 'SOME'; readonly values: ReadonlySet<string> };

interface Acl {
  readonly subject: Entity;
  readonly object: Entity;
}

function matches(value: string | undefined, e: Entity): boolean {
  return e.kind !== 'SOME' || (value !== undefined && e.values.has(value));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class Authorizer {
  private constructor(
    readonly permissive: boolean,
    private readonly acls: ReadonlyMap<AclAction, readonly Acl[]>,
    /** ACL kinds in the file that Corral reads but has no action for. */
    readonly ignored: readonly string[],
  ) {}

  /** No ACLs: everything is allowed. */
  static readonly ALLOW_ALL = new Authorizer(true, new Map(), []);

  /**
   * Parse an ACL document; `source` (a path or `--acls`) starts every error message, followed
   * by the field (`run_tasks[1].users.values[0]`) and the reason.
   */
  static parse(text: string, source: string): Authorizer {
    let doc: unknown;
    try {
      doc = JSON.parse(text) as unknown;
    } catch (e) {
      throw new ValidationError(source, `is not valid JSON: ${describeError(e)}`);
    }
    const bad = (field: string, reason: string) => new ValidationError(`${source}: ${field}`, reason);
    if (!isObject(doc)) throw bad('ACLs', 'must be a JSON object');
    let permissive = true;
    const acls = new Map<AclAction, Acl[]>();
    const ignored: string[] = [];
    for (const [key, value] of Object.entries(doc)) {
      if (key === 'permissive') {
        if (typeof value !== 'boolean') throw bad('permissive', 'must be true or false');
        permissive = value;
        continue;
      }
      if (NOT_ENFORCED.has(key)) {
        ignored.push(key);
        continue;
      }
      const action = (ALIASES[key] ?? key) as AclAction;
      const spec = ACTIONS[action];
      if (spec === undefined) {
        throw bad(key, `unknown ACL kind (known: permissive, ${[...Object.keys(ACTIONS), ...Object.keys(ALIASES)].join(', ')})`);
      }
      if (!Array.isArray(value)) throw bad(key, 'must be an array of ACLs');
      const list = acls.get(action) ?? [];
      value.forEach((acl, i) => {
        const where = `${key}[${i}]`;
        if (!isObject(acl)) throw bad(where, 'must be an object');
        for (const k of Object.keys(acl)) {
          if (k !== 'principals' && !spec.objects.includes(k))
            throw bad(`${where}.${k}`, `unknown field (expected 'principals' and one of ${spec.objects.map((o) => `'${o}'`).join(', ')})`);
        }
        const objectKeys = spec.objects.filter((o) => o in acl);
        if (!('principals' in acl)) throw bad(`${where}.principals`, 'is required');
        if (objectKeys.length === 0) throw bad(`${where}.${spec.objects[0]}`, 'is required');
        if (objectKeys.length > 1) throw bad(where, `has both ${objectKeys.map((o) => `'${o}'`).join(' and ')}; give one`);
        const objectKey = objectKeys[0]!;
        const object = entity(acl[objectKey], `${where}.${objectKey}`, bad);
        if (spec.anyOrNone?.includes(objectKey) && object.kind === 'SOME') {
          throw bad(`${where}.${objectKey}`, 'only {"type": "ANY"} or {"type": "NONE"} is meaningful here');
        }
        list.push({ subject: entity(acl.principals, `${where}.principals`, bad), object });
      });
      acls.set(action, list);
    }
    return new Authorizer(permissive, acls, ignored);
  }

  /**
   * May `subject` (a principal; undefined when the request has none) do `action` on `object`
   * (a role, user or principal, as the action says; undefined when the request has none)?
   */
  authorize(action: AclAction, subject: string | undefined, object: string | undefined): boolean {
    const list = this.acls.get(action);
    if (list !== undefined) {
      for (const acl of list) {
        if (matches(subject, acl.subject) && matches(object, acl.object)) return acl.subject.kind !== 'NONE' && acl.object.kind !== 'NONE';
      }
    }
    return this.permissive;
  }
}

function entity(v: unknown, field: string, bad: (field: string, reason: string) => Error): Entity {
  const shape = 'must be {"values": [...]}, {"type": "ANY"} or {"type": "NONE"}';
  if (!isObject(v)) throw bad(field, shape);
  for (const k of Object.keys(v)) if (k !== 'type' && k !== 'values') throw bad(`${field}.${k}`, `unknown field; an entity ${shape}`);
  const type = v.type ?? 'SOME';
  if (type !== 'SOME' && type !== 'ANY' && type !== 'NONE') throw bad(`${field}.type`, `'${String(type)}' is not ANY, NONE or SOME`);
  if (type !== 'SOME') {
    if (v.values !== undefined) throw bad(`${field}.values`, `cannot be given with type ${type}`);
    return { kind: type };
  }
  if (!Array.isArray(v.values) || v.values.length === 0) throw bad(`${field}.values`, 'must be a non-empty array of strings');
  v.values.forEach((x, i) => {
    if (typeof x !== 'string' || x.length === 0) throw bad(`${field}.values[${i}]`, 'must be a non-empty string');
  });
  return { kind: 'SOME', values: new Set(v.values as string[]) };
}

/** `--acls`: inline JSON or a path (a `file://` value arrives as the file's text). */
export function loadAcls(value: string): Authorizer {
  const f = readFlagText(value);
  return Authorizer.parse(f.text, f.source);
}
