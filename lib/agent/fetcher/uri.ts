/**
 * What one `CommandInfo.URI` asks for: where the bytes come from
 * (a local path, or http/https), what the file is called in the sandbox, and whether and how it
 * is extracted. Pure: no I/O.
 *
 * Rules, in Mesos's order: no `://` at all, `file://` or `file://localhost` → a local path
 * (`file://` must be followed by an absolute path; a relative path is joined to
 * `--frameworks_home`, and is an error without one); `http://` and `https://` → downloaded;
 * any other scheme (hdfs, s3, ftp, ...) → not supported here. The sandbox name is `output_file`
 * when given (a relative path that stays inside the sandbox), else the text after the last `/`
 * of the URI, query string included, as Mesos takes it.
 */
import { isAbsolute, posix } from 'node:path';
import type { Uri } from '../../proto/messages.ts';
import { FetchError } from './errors.ts';

export type Source = { readonly kind: 'local'; readonly path: string } | { readonly kind: 'http'; readonly url: URL };

/** tar (plain, gz, bz2, xz: tar finds the compression itself), zip, or one gzip'd file. */
export type ArchiveType = 'tar' | 'zip' | 'gz';

export interface Plan {
  readonly uri: Uri;
  readonly source: Source;
  /** The file's path inside the sandbox (relative, normalised, never escaping it). */
  readonly name: string;
  /** The URI's basename: the cache names its file after it. */
  readonly basename: string;
  /** Set when the file is to be extracted (extract and not executable, and a known suffix). */
  readonly archive: ArchiveType | undefined;
  readonly executable: boolean;
}

const TAR_SUFFIXES = ['.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tbz2', '.tbz', '.tar.xz', '.txz'];

/** The archive type a file name says, if any (case-insensitive suffix). */
export function archiveType(name: string): ArchiveType | undefined {
  const n = name.toLowerCase();
  if (TAR_SUFFIXES.some((s) => n.endsWith(s))) return 'tar';
  if (n.endsWith('.zip')) return 'zip';
  if (n.endsWith('.gz')) return 'gz';
  return undefined;
}

/** A relative path that stays inside its root, normalised; undefined if it would escape. */
export function insidePath(p: string): string | undefined {
  if (p === '' || isAbsolute(p) || p.includes('\0')) return undefined;
  const n = posix.normalize(p).replace(/\/+$/, '');
  if (n === '' || n === '.' || n === '..' || n.startsWith('../')) return undefined;
  return n;
}

function sourceOf(value: string, frameworksHome: string | undefined): Source {
  const bad = (reason: string): never => {
    throw new FetchError(value, reason, { code: 'BAD_URI' });
  };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (value.includes('://')) bad('not a URI: the text before :// is not a scheme');
    if (isAbsolute(value)) return { kind: 'local', path: posix.normalize(value) };
    if (frameworksHome === undefined || frameworksHome === '') bad('a relative path needs --frameworks_home, which is not set');
    return { kind: 'local', path: posix.join(frameworksHome!, value) };
  }
  if (scheme === 'file') {
    let rest = value.slice('file://'.length);
    if (rest.toLowerCase().startsWith('localhost/')) rest = rest.slice('localhost'.length);
    if (!rest.startsWith('/')) bad('file:// must be followed by an absolute path (file:///path or file://localhost/path)');
    let path: string;
    try {
      path = decodeURIComponent(rest);
    } catch {
      path = rest;
    }
    return { kind: 'local', path: posix.normalize(path) };
  }
  if (scheme === 'http' || scheme === 'https') {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return bad('not a valid URL');
    }
    if (url.hostname === '') bad('the URL has no host');
    return { kind: 'http', url };
  }
  return bad(`the scheme '${scheme}' is not supported (http, https, file and local paths are)`);
}

/** Check one URI and work out what to do with it. Throws a FetchError (code BAD_URI). */
export function planUri(uri: Uri, frameworksHome: string | undefined): Plan {
  const value = uri.value;
  if (value === '') throw new FetchError(value, 'the URI is empty', { code: 'BAD_URI' });
  if (value.includes('\0')) throw new FetchError(value, 'the URI contains a NUL character', { code: 'BAD_URI' });
  const source = sourceOf(value, frameworksHome);
  const basename = value.slice(value.lastIndexOf('/') + 1);
  let name: string | undefined;
  if (uri.outputFile !== undefined && uri.outputFile !== '') {
    name = insidePath(uri.outputFile);
    if (name === undefined) throw new FetchError(value, `output_file '${uri.outputFile}' must be a relative path inside the sandbox`, { code: 'BAD_URI' });
  } else {
    name = insidePath(basename);
    if (name === undefined || name.includes('/')) throw new FetchError(value, 'the URI does not end with a file name; give output_file', { code: 'BAD_URI' });
  }
  const executable = uri.executable === true;
  const archive = uri.extract && !executable ? archiveType(name) : undefined;
  return { uri, source, name, basename, archive, executable };
}
