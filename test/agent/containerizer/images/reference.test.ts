/** Image names as frameworks write them: how they split, where they are pulled from, and the ones refused. */
import test from 'ava';
import { ImageError } from '../../../../lib/agent/containerizer/images/errors.ts';
import { imageSource, parseImageReference } from '../../../../lib/agent/containerizer/images/reference.ts';

const hub = new URL('https://registry-1.docker.io');
const D = `sha256:${'ab'.repeat(32)}`;

const cases: [string, string | undefined, string, string | undefined, string | undefined, string, string][] = [
  // name, registry, repository, tag, digest, canonical, manifest URL with the Docker Hub default
  ['busybox', undefined, 'busybox', undefined, undefined, 'busybox', 'https://registry-1.docker.io/v2/library/busybox/manifests/latest'],
  ['redis:5', undefined, 'redis', '5', undefined, 'redis:5', 'https://registry-1.docker.io/v2/library/redis/manifests/5'],
  ['team/app:1.2', undefined, 'team/app', '1.2', undefined, 'team/app:1.2', 'https://registry-1.docker.io/v2/team/app/manifests/1.2'],
  ['localhost:5000/app:1', 'localhost:5000', 'app', '1', undefined, 'localhost:5000/app:1', 'http://localhost:5000/v2/app/manifests/1'],
  ['127.0.0.1:5000/a/b', '127.0.0.1:5000', 'a/b', undefined, undefined, '127.0.0.1:5000/a/b', 'http://127.0.0.1:5000/v2/a/b/manifests/latest'],
  ['quay.io/coreos/etcd:v3.3', 'quay.io', 'coreos/etcd', 'v3.3', undefined, 'quay.io/coreos/etcd:v3.3', 'https://quay.io/v2/coreos/etcd/manifests/v3.3'],
  [`reg.local:8443/a/b@${D}`, 'reg.local:8443', 'a/b', undefined, D, `reg.local:8443/a/b@${D}`, `https://reg.local:8443/v2/a/b/manifests/${D}`],
  [`reg.local:443/a:t@${D}`, 'reg.local:443', 'a', 't', D, `reg.local:443/a@${D}`, `https://reg.local:443/v2/a/manifests/${D}`],
  ['web:80/a', 'web:80', 'a', undefined, undefined, 'web:80/a', 'http://web:80/v2/a/manifests/latest'],
];

for (const [name, registry, repository, tag, digest, canonical, url] of cases) {
  test(`parsed: ${name}`, (t) => {
    const r = parseImageReference(name);
    t.deepEqual(
      { registry: r.registry, repository: r.repository, tag: r.tag, digest: r.digest, canonical: r.canonical },
      { registry, repository, tag, digest, canonical },
    );
    const s = imageSource(r, hub);
    t.is(`${s.base}/v2/${s.repository}/manifests/${s.reference}`, url);
  });
}

test('the --docker_registry URL is used for names without a registry, with its own scheme', (t) => {
  const s = imageSource(parseImageReference('app:1'), new URL('http://10.0.0.5:5000'));
  t.deepEqual(s, { base: 'http://10.0.0.5:5000', host: '10.0.0.5:5000', repository: 'app', reference: '1' });
});

const refused: [string, RegExp][] = [
  ['', /the name is empty/],
  ['a@b@c', /more than one '@'/],
  ['app@sha256:1234', /the digest 'sha256:1234' is not sha256:<64 hex digits>/],
  ['App:1', /the repository component 'App'/],
  ['team//app', /the repository component ''/],
  ['app:', /the tag '' is not/],
  ['app:-x', /the tag '-x' is not/],
  ['reg.local:99999/app', /the registry 'reg.local:99999' is not a host name/],
  ['reg.local:5000/', /the repository is empty/],
];
for (const [name, message] of refused) {
  test(`refused: ${JSON.stringify(name)}`, (t) => {
    const e = t.throws(() => parseImageReference(name), { instanceOf: ImageError });
    t.is(e!.code, 'IMAGE_BAD_NAME');
    t.regex(e!.message, new RegExp(`^Invalid image name '.*': ${message.source}`));
    t.is(e!.field, 'container.mesos.image.docker.name');
  });
}
