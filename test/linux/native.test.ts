/**
 * The addon loads, reports its build options, and maps failures to NativeError (no root needed:
 * these failures happen before any privileged step).
 */
import test from 'ava';
import { CorralError, isCorralError } from '../../lib/common/errors.ts';
import { NativeError, createNetns, getNetns, isNativeError, listLinks, nativeAddonPath, nativeFeatures, removeNetns } from '../../lib/linux/index.ts';

test('the addon is built and reports its build options', (t) => {
  t.regex(nativeAddonPath, /build\/Release\/corral_native\.node$/);
  t.is(typeof nativeFeatures().networkIsolator, 'boolean');
});

test('an invalid name is EINVAL as a NativeError with code, errno, op and message', (t) => {
  for (const name of ['', '.', '..', 'a/b', 'x'.repeat(256)]) {
    const e = t.throws(() => createNetns(name), { instanceOf: NativeError });
    t.is(e?.code, 'EINVAL');
    t.is(e?.errno, 22);
    t.is(e?.op, 'netns');
    t.regex(e?.message ?? '', /^netns: .*: Invalid argument$/);
    t.true(isNativeError(e, 'EINVAL'));
    t.false(isNativeError(e, 'ENOENT'));
    t.true(e instanceof CorralError && isCorralError(e));
  }
  t.throws(() => removeNetns('../etc'), { instanceOf: NativeError, code: 'EINVAL' });
  t.throws(() => getNetns('a/b'), { instanceOf: NativeError, code: 'EINVAL' });
});

test('wrong argument types are TypeErrors, not NativeErrors', (t) => {
  const e = t.throws(() => createNetns(42 as unknown as string), { instanceOf: TypeError });
  t.is((e as unknown as { code: string }).code, 'ERR_INVALID_ARG_TYPE');
  t.throws(() => createNetns('a\0b'), { instanceOf: TypeError });
});

test('getNetns of an absent namespace is undefined', (t) => {
  t.is(getNetns(`corral-test-absent-${process.pid}`), undefined);
});

if (nativeFeatures().networkIsolator) {
  test('network isolator build: listLinks sees the loopback link through rtnetlink', (t) => {
    const links = listLinks();
    const lo = links.find((l) => l.name === 'lo');
    t.truthy(lo);
    t.is(lo?.index, 1);
    t.throws(() => listLinks({ netns: `corral-test-absent-${process.pid}` }), { instanceOf: NativeError, code: 'ENOENT' });
  });
} else {
  test('default build: the network isolator is missing and says how to rebuild', (t) => {
    const e = t.throws(() => listLinks(), { instanceOf: CorralError });
    t.is(e?.code, 'NATIVE_FEATURE_MISSING');
    t.regex(e?.message ?? '', /npm run build:native:netiso/);
  });
}
