/**
 * A stand-in for api.openai.com (a local HTTPS server with the test's own
 * CA) that a test cgroup's processes resolve through a dnsmasq of the
 * test's, so the kernel learns its address as OpenAI's: what the e2e tests
 * of identities (exe-hash, lineage) share.
 */
import { rmSync } from 'node:fs';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { startDnsmasq, type Resolver } from '../../engine/demo/resolver.js';
import { startProviderServer, type ProviderServer } from './providers.js';

export interface OpenAiStandIn {
  pki: Pki;
  server: ProviderServer;
  dns: Resolver;
  /** curl's arguments for a chat completion to the stand-in, BIN the curl to run */
  chat(bin?: string): string[];
  dispose(): Promise<void>;
}

export async function openAiStandIn(): Promise<OpenAiStandIn> {
  const pki = makePki(['api.openai.com']);
  const server = await startProviderServer(pki);
  const dns = await startDnsmasq({ 'api.openai.com': ['127.0.0.1'] });
  return {
    pki,
    server,
    dns,
    chat: (bin = 'curl') => [bin, '-sS', '-o', '/dev/null', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, '-H', 'content-type: application/json', '-d', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}', `https://api.openai.com:${server.port}/v1/chat/completions`],
    async dispose() {
      await server.close();
      await dns.stop();
      rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}
