/** Registry records as a master writes them, for the registry tests and bench/registry.bench.ts. */
import type { Resource } from '../../lib/common/resources/index.ts';
import type { RegistryAgent } from '../../lib/master/registry/index.ts';

/**
 * Agent `i` of master `masterId`: a 16-core host with ports, attributes, a dynamic reservation and
 * a persistent volume in its checkpointed resources (about 1.2 KB of JSON), the principal it
 * registered as. `generation` changes the record (for updates).
 */
export function registryAgent(masterId: string, i: number, generation = 0): RegistryAgent {
  const id = `${masterId}-S${i}`;
  const reserved: Resource = { name: 'cpus', type: 'SCALAR', scalar: 2 + generation, role: 'analytics', reservation: { principal: 'ops' } };
  const volume: Resource = {
    name: 'disk',
    type: 'SCALAR',
    scalar: 2048,
    role: 'analytics',
    reservation: { principal: 'ops' },
    disk: { persistence: { id: `vol-${i}`, principal: 'ops' }, volume: { mode: 'RW', containerPath: 'data' } },
  };
  return {
    id,
    info: {
      id,
      hostname: `agent-${i}.rack-${i % 40}.example.net`,
      port: 5051,
      checkpoint: true,
      resources: [
        { name: 'cpus', type: 'SCALAR', scalar: 14 - generation, role: '*' },
        { name: 'mem', type: 'SCALAR', scalar: 63_488, role: '*' },
        { name: 'disk', type: 'SCALAR', scalar: 1_046_528, role: '*' },
        { name: 'ports', type: 'RANGES', ranges: [{ begin: 31_000, end: 32_000 }], role: '*' },
        reserved,
        volume,
      ],
      attributes: [
        { name: 'rack', type: 'TEXT', text: `rack-${i % 40}` },
        { name: 'zone', type: 'TEXT', text: `zone-${i % 3}` },
        { name: 'gpus', type: 'SCALAR', scalar: 0 },
      ],
    },
    checkpointedResources: [reserved, volume],
    principal: 'agent',
  };
}
