/**
 * network/port_mapping: the start-up checks of its flags and port pools (pure). Its real-kernel
 * behaviour is tested with an agent in test hosts (test/linux/port_mapping*.root.test.ts).
 */
import test from 'ava';
import { CorralError } from '../../../lib/common/errors.ts';
import { validatePortMappingOptions, type PortMappingOptions } from '../../../lib/agent/containerizer/isolators/port_mapping/index.ts';
import { parseFlags } from '../../../lib/common/flags.ts';
import { agentFlags } from '../../../lib/agent/flags.ts';
import { createContainerizer } from '../../../lib/agent/containerizer/factory.ts';
import { parseResourcesText } from '../../../lib/common/resources/index.ts';
import { agentFlagValues } from '../../helpers/agent_flags.ts';
import { nativeFeatures } from '../../../lib/linux/index.ts';

const ok: PortMappingOptions = {
  ports: [{ begin: 31000, end: 32000 }],
  ephemeralPorts: [{ begin: 32768, end: 57343 }],
  ephemeralPortsPerContainer: 1024,
};

function rejects(t: import('ava').ExecutionContext, o: Partial<PortMappingOptions>, field: string, re: RegExp, hostRange?: string): void {
  const e = t.throws(() => validatePortMappingOptions({ ...ok, ...o }, hostRange), { instanceOf: CorralError });
  t.is(e?.code, 'INVALID');
  t.is((e as CorralError & { field?: string }).field, field);
  t.regex(e?.message ?? '', re);
}

test('a sound set-up passes, also next to a shrunk host ephemeral range', (t) => {
  t.notThrows(() => validatePortMappingOptions(ok, '57345 61000'));
});

test('each bad set-up is refused naming the flag and the reason', (t) => {
  rejects(t, { ephemeralPortsPerContainer: 1000 }, '--ephemeral_ports_per_container', /not a power of 2/);
  rejects(t, { ephemeralPortsPerContainer: 8 }, '--ephemeral_ports_per_container', /at least 16/);
  rejects(t, { ephemeralPorts: [] }, '--resources', /needs an ephemeral_ports resource/);
  rejects(t, { ephemeralPorts: [{ begin: 32768, end: 33000 }] }, '--ephemeral_ports_per_container', /more than the 233 ports/);
  rejects(t, { ephemeralPorts: [{ begin: 31500, end: 40000 }] }, '--resources', /overlaps ports \[31000-32000\]/);
  rejects(t, { ephemeralPorts: [{ begin: 512, end: 4095 }] }, '--resources', /well-known ports/);
  rejects(t, {}, '--resources', /overlaps the host's own ephemeral ports \[32768-60999\].*ip_local_port_range/, '32768\t60999');
});

test('agent flags: --ephemeral_ports_per_container must be a power of two of at least 16; rates take byte units', (t) => {
  const parsed = parseFlags(agentFlags, { argv: ['--master=127.0.0.1:5050', '--work_dir=/tmp/x', '--egress_rate_limit_per_container=1250KB'], env: {} });
  t.is(parsed.values.ephemeral_ports_per_container, 1024);
  t.is(parsed.values.egress_rate_limit_per_container, 1250 * 1024);
  t.throws(() => parseFlags(agentFlags, { argv: ['--master=127.0.0.1:5050', '--work_dir=/tmp/x', '--ephemeral_ports_per_container=100'], env: {} }), {
    message: /ephemeral_ports_per_container.*power of 2/,
  });
});

if (!nativeFeatures().networkIsolator) {
  test('default build: --isolation=network/port_mapping is refused at start, saying how to rebuild', (t) => {
    const e = t.throws(
      () =>
        createContainerizer(agentFlagValues({ isolation: 'posix/cpu,network/port_mapping' }), {
          resources: parseResourcesText('ports:[31000-32000];ephemeral_ports:[32768-57343]'),
        }),
      { instanceOf: CorralError },
    );
    t.is(e?.code, 'ISOLATION_UNAVAILABLE');
    t.regex(e?.message ?? '', /network\/port_mapping: .*rebuild with `npm run build:native:netiso`/);
  });
}
