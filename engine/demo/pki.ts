/**
 * A throwaway CA and a server certificate for the provider names the
 * stand-in servers answer for (demo and tests), made with the openssl CLI.
 * Clients trust it explicitly (--cacert, a context's ca); nothing is
 * installed into the host's trust store.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pki {
  dir: string;
  caCert: string;
  cert: string;
  key: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

export const PROVIDER_HOSTS = ['api.openai.com', 'api.anthropic.com', 'generativelanguage.googleapis.com', 'api.mistral.ai', 'evil-openai.com', 'example.test'];

export function makePki(hosts = PROVIDER_HOSTS): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'busted-pki-'));
  const o = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  o('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=busted demo CA (not for real use)');
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${[...hosts.map((h) => `DNS:${h}`), 'IP:127.0.0.1', 'IP:::1'].join(',')}\n`);
  o('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${hosts[0]}`);
  o('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
  const p = (f: string) => join(dir, f);
  return {
    dir,
    caCert: p('ca.pem'),
    cert: p('server.pem'),
    key: p('server.key'),
    caPem: readFileSync(p('ca.pem'), 'utf8'),
    certPem: readFileSync(p('server.pem'), 'utf8'),
    keyPem: readFileSync(p('server.key'), 'utf8'),
  };
}
