/**
 * Go's net/url as the builtins that meet URLs read them: url.Parse (the
 * *url.URL struct, its errors), EscapedPath and String. Used by
 * providers.aws.sign_req (the signed request's host, path and query) and by
 * crypto.x509.* (URI SANs as json.Marshal writes them, URIStrings, name
 * constraints).
 *
 * Work is on bytes, held as a "binary" string (one char per byte, as
 * `binary()` makes of a JavaScript string): Go's URLs are byte strings, and
 * its escapes decode to bytes, not to code points. `text()` turns a field
 * back into a JavaScript string (invalid UTF-8 as U+FFFD, as Go's JSON
 * writes it).
 */
import { fail } from './common.js';

/** A *url.URL, its string fields as bytes (see above). */
export interface GoURL {
  Scheme: string;
  Opaque: string;
  User: { username: string; password?: string } | null;
  Host: string;
  Path: string;
  RawPath: string;
  OmitHost: boolean;
  ForceQuery: boolean;
  RawQuery: string;
  Fragment: string;
  RawFragment: string;
}

/** A JavaScript string as the binary string of its UTF-8 bytes. */
export const binary = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
/** A binary string's bytes read as UTF-8. */
export const text = (b: string): string => Buffer.from(b, 'latin1').toString('utf8');

type UrlMode = 'path' | 'host' | 'zone' | 'user' | 'fragment';

/** net/url shouldEscape */
function shouldEscape(c: string, mode: UrlMode): boolean {
  if (/[A-Za-z0-9]/.test(c)) return false;
  if ((mode === 'host' || mode === 'zone') && `!$&'()*+,;=:[]<>"`.includes(c)) return false;
  if ('-_.~'.includes(c)) return false;
  if ('$&+,/:;=?@'.includes(c)) {
    if (mode === 'path') return c === '?';
    if (mode === 'user') return '@/?:'.includes(c);
    if (mode === 'fragment') return false;
  }
  if (mode === 'fragment' && '!()*'.includes(c)) return false;
  return true;
}

const ishex = (c: string | undefined): boolean => c !== undefined && /[0-9a-fA-F]/.test(c);

/** net/url unescape: the bytes, or a builtin error with Go's text (EscapeError, InvalidHostError) */
function unescape(s: string, mode: UrlMode): string {
  for (let i = 0; i < s.length; ) {
    if (s[i] === '%') {
      if (!ishex(s[i + 1]) || !ishex(s[i + 2])) fail(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      const v = parseInt(s.slice(i + 1, i + 3), 16);
      // in a host, %-escapes are only for bytes ≥ 0x80 and "%25" (RFC 6874)
      if (mode === 'host' && v < 0x80 && s.slice(i, i + 3) !== '%25') fail(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      if (mode === 'zone' && s.slice(i, i + 3) !== '%25' && v !== 0x20 && shouldEscape(String.fromCharCode(v), 'host')) fail(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      i += 3;
    } else {
      if ((mode === 'host' || mode === 'zone') && s.charCodeAt(i) < 0x80 && shouldEscape(s[i]!, mode)) fail(`invalid character ${JSON.stringify(s[i])} in host name`);
      i++;
    }
  }
  return s.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** net/url escape: upper-case hex */
function escape(s: string, mode: UrlMode): string {
  return [...s].map((c) => (shouldEscape(c, mode) ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}` : c)).join('');
}

function validEncoded(s: string, mode: UrlMode): boolean {
  return [...s].every((c) => "!$&'()*+,;=:@[]%".includes(c) || !shouldEscape(c, mode));
}

function unescapeOr(s: string, mode: UrlMode): string | undefined {
  try {
    return unescape(s, mode);
  } catch {
    return undefined;
  }
}

/**
 * url.Parse(RAW) (bytes), or a builtin error with the text of Go's
 * *url.Error: `parse "<url>": <why>`, naming the URL without its fragment,
 * or the whole of it for an error in the fragment.
 */
export function parseURL(raw: string): GoURL {
  const hash = raw.indexOf('#');
  const rest0 = hash < 0 ? raw : raw.slice(0, hash);
  const named = (whole: string, f: () => void): void => {
    try {
      f();
    } catch (e) {
      fail(`parse ${JSON.stringify(text(whole))}: ${(e as Error).message}`);
    }
  };
  const u: GoURL = { Scheme: '', Opaque: '', User: null, Host: '', Path: '', RawPath: '', OmitHost: false, ForceQuery: false, RawQuery: '', Fragment: '', RawFragment: '' };
  named(rest0, () => parseWithoutFragment(rest0, u));
  if (hash >= 0 && hash < raw.length - 1) {
    const f = raw.slice(hash + 1);
    named(raw, () => (u.Fragment = unescape(f, 'fragment')));
    u.RawFragment = escape(u.Fragment, 'fragment') === f ? '' : f;
  }
  return u;
}

function parseWithoutFragment(rest0: string, u: GoURL): void {
  if (/[\x00-\x1f\x7f]/.test(rest0)) fail('net/url: invalid control character in URL');
  if (rest0 === '*') {
    u.Path = '*';
    return;
  }
  let rest = rest0;
  const sm = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(rest);
  if (rest.startsWith(':')) fail('missing protocol scheme');
  if (sm) (u.Scheme = sm[1]!.toLowerCase()), (rest = rest.slice(sm[0].length));
  if (rest.endsWith('?') && rest.split('?').length === 2) (u.ForceQuery = true), (rest = rest.slice(0, -1));
  else {
    const q = rest.indexOf('?');
    if (q >= 0) (u.RawQuery = rest.slice(q + 1)), (rest = rest.slice(0, q));
  }
  if (!rest.startsWith('/')) {
    if (u.Scheme !== '') {
      u.Opaque = rest;
      return;
    }
    if (rest.split('/')[0]!.includes(':')) fail('first path segment in URL cannot contain colon');
  }
  if ((u.Scheme !== '' || !rest.startsWith('///')) && rest.startsWith('//')) {
    let authority = rest.slice(2);
    rest = '';
    const slash = authority.indexOf('/');
    if (slash >= 0) (rest = authority.slice(slash)), (authority = authority.slice(0, slash));
    const at = authority.lastIndexOf('@');
    u.Host = parseHost(at < 0 ? authority : authority.slice(at + 1));
    if (at >= 0) {
      const info = authority.slice(0, at);
      if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(info)) fail('net/url: invalid userinfo');
      const colon = info.indexOf(':');
      u.User = colon < 0 ? { username: unescape(info, 'user') } : { username: unescape(info.slice(0, colon), 'user'), password: unescape(info.slice(colon + 1), 'user') };
    }
  } else if (u.Scheme !== '' && rest.startsWith('/')) u.OmitHost = true;
  u.Path = unescape(rest, 'path');
  u.RawPath = escape(u.Path, 'path') === rest ? '' : rest;
}

/** parseHost: an IP literal (its zone unescaped as such) or a name, with an optional numeric port */
function parseHost(host: string): string {
  const validPort = (p: string): boolean => /^(:\d*)?$/.test(p);
  if (host.startsWith('[')) {
    const i = host.lastIndexOf(']');
    if (i < 0) fail("missing ']' in host");
    if (!validPort(host.slice(i + 1))) fail(`invalid port ${JSON.stringify(host.slice(i + 1))} after host`);
    const zone = host.slice(0, i).indexOf('%25');
    if (zone >= 0) return unescape(host.slice(0, zone), 'host') + unescape(host.slice(zone, i), 'zone') + unescape(host.slice(i), 'host');
  } else {
    const i = host.lastIndexOf(':');
    if (i >= 0 && !validPort(host.slice(i))) fail(`invalid port ${JSON.stringify(host.slice(i))} after host`);
  }
  return unescape(host, 'host');
}

/** (*url.URL).EscapedPath: the path as written when that is a valid encoding of it, else Go's own escaping */
export function escapedPath(u: GoURL): string {
  if (u.RawPath !== '' && validEncoded(u.RawPath, 'path') && unescapeOr(u.RawPath, 'path') === u.Path) return u.RawPath;
  return u.Path === '*' ? '*' : escape(u.Path, 'path');
}

/** (*url.URL).String */
export function urlString(u: GoURL): string {
  let out = u.Scheme === '' ? '' : `${u.Scheme}:`;
  if (u.Opaque !== '') out += u.Opaque;
  else {
    if (u.Scheme !== '' || u.Host !== '' || u.User !== null) {
      if (!(u.OmitHost && u.Host === '' && u.User === null)) {
        if (u.Host !== '' || u.Path !== '' || u.User !== null) out += '//';
        if (u.User !== null) out += `${escape(u.User.username, 'user')}${u.User.password === undefined ? '' : `:${escape(u.User.password, 'user')}`}@`;
        out += escape(u.Host, 'host');
      }
    }
    const path = escapedPath(u);
    if (path !== '' && path[0] !== '/' && u.Host !== '') out += '/';
    if (out === '' && path.split('/')[0]!.includes(':')) out += './';
    out += path;
  }
  if (u.ForceQuery || u.RawQuery !== '') out += `?${u.RawQuery}`;
  if (u.Fragment !== '') {
    const f = u.RawFragment !== '' && validEncoded(u.RawFragment, 'fragment') && unescapeOr(u.RawFragment, 'fragment') === u.Fragment ? u.RawFragment : escape(u.Fragment, 'fragment');
    out += `#${f}`;
  }
  return out;
}
