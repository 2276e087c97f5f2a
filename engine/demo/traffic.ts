/**
 * The built-in traffic demo: local stand-ins for provider endpoints (a
 * node HTTPS server with a throwaway CA, answering as api.openai.com,
 * api.anthropic.com, ...), a real resolver (dnsmasq) that sends those
 * names to loopback, and real clients (curl, python3, node, bash) talking
 * to them from a private mount namespace. Nothing leaves 127.0.0.0/8 and
 * ::1, and no file of the host is changed.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { makePki, type Pki } from './pki.js';
import { startDnsmasq, type Resolver } from './resolver.js';
import { PYTHON, run, type RunOptions } from './spawn.js';

export interface DemoStep {
  say: string;
  cmd: string[];
  /** under the shipped policies, `busted enforce` refuses this step */
  blocked?: boolean;
}

/** Minimal provider-shaped answers, enough for clients to succeed. */
function answer(req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const url = req.url ?? '/';
    let out: unknown = { object: 'list', data: [] };
    if (url.startsWith('/v1/chat/completions')) {
      out = { id: 'chatcmpl-demo', object: 'chat.completion', model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the stand-in.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 } };
    } else if (url.startsWith('/v1/messages')) {
      out = { id: 'msg_demo', type: 'message', role: 'assistant', model: 'claude-sonnet-4', content: [{ type: 'text', text: 'Hello from the stand-in.' }], usage: { input_tokens: 12, output_tokens: 6 } };
    } else if (url.includes(':generateContent')) {
      out = { candidates: [{ content: { role: 'model', parts: [{ text: 'Hello from the stand-in.' }] } }], usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 6 } };
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
  });
}

export class Demo {
  private servers: Server[] = [];
  private resolver: Resolver | undefined;
  private pki: Pki | undefined;
  port = 0;

  async start(): Promise<void> {
    this.pki = makePki();
    const s4 = createServer({ key: this.pki.keyPem, cert: this.pki.certPem, ALPNProtocols: ['http/1.1'] }, answer);
    const s6 = createServer({ key: this.pki.keyPem, cert: this.pki.certPem, ALPNProtocols: ['http/1.1'] }, answer);
    this.servers = [s4, s6];
    this.port = await new Promise<number>((resolve, reject) => {
      s4.once('error', reject);
      s4.listen(0, '127.0.0.1', () => resolve((s4.address() as AddressInfo).port));
    });
    await new Promise<void>((resolve, reject) => {
      s6.once('error', reject);
      s6.listen(this.port, '::1', () => resolve());
    });
    this.resolver = await startDnsmasq({
      'api.openai.com': ['127.0.0.1', '::1'],
      'api.anthropic.com': ['127.0.0.1'],
      'generativelanguage.googleapis.com': ['::1'],
      'api.mistral.ai': ['127.0.0.1'],
      'evil-openai.com': ['127.0.0.1'],
    });
  }

  /** What the demo does, in order. */
  steps(): DemoStep[] {
    const p = this.port;
    const ca = this.pki!.caCert;
    // A key-shaped placeholder, so that redaction has something to hide.
    const key = 'sk-demo-000000000000000000000000';
    return [
      {
        say: 'curl asks api.openai.com for a chat completion (IPv4, TLS 1.3)',
        cmd: ['curl', '-4', '-sS', '-o', '/dev/null', '--cacert', ca, '-H', `Authorization: Bearer ${key}`, '-H', 'content-type: application/json', '-d', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}', `https://api.openai.com:${p}/v1/chat/completions`],
      },
      {
        say: 'python3 (libssl) sends a message to api.anthropic.com',
        cmd: [PYTHON, '-c', `import ssl, urllib.request
ctx = ssl.create_default_context(cafile=${JSON.stringify(ca)})
req = urllib.request.Request("https://api.anthropic.com:${p}/v1/messages", data=b'{"model":"claude-sonnet-4","max_tokens":64,"messages":[{"role":"user","content":"Say hello"}]}', headers={"x-api-key": "sk-ant-demo-0000", "content-type": "application/json"})
urllib.request.urlopen(req, context=ctx).read()`],
      },
      {
        say: 'node (its own OpenSSL) calls Gemini over IPv6',
        cmd: [process.execPath, '-e', `const https = require('https');
const r = https.request('https://generativelanguage.googleapis.com:${p}/v1beta/models/gemini-2.0-flash:generateContent', { method: 'POST', ca: require('fs').readFileSync(${JSON.stringify(ca)}), headers: { 'content-type': 'application/json' } }, (res) => res.resume());
r.end('{"contents":[{"parts":[{"text":"Say hello"}]}]}');`],
      },
      {
        say: 'curl talks TLS 1.2 to api.mistral.ai (not an approved provider: enforce refuses the connection in the kernel)',
        cmd: ['curl', '-4', '-sS', '-o', '/dev/null', '--tls-max', '1.2', '--cacert', ca, `https://api.mistral.ai:${p}/v1/models`],
        blocked: true,
      },
      {
        say: 'curl visits evil-openai.com: a look-alike, not a provider (enforce holds the DNS answer until it has decided, then refuses the connection)',
        cmd: ['curl', '-4', '-sS', '-o', '/dev/null', '--cacert', ca, `https://evil-openai.com:${p}/`],
        blocked: true,
      },
      {
        say: 'python3 pastes an AWS key into a prompt to api.openai.com (enforce holds the write and stops it before it leaves)',
        cmd: [PYTHON, '-c', `import ssl, urllib.request
ctx = ssl.create_default_context(cafile=${JSON.stringify(ca)})
req = urllib.request.Request("https://api.openai.com:${p}/v1/chat/completions", data=b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"deploy with AKIAIOSFODNN7EXAMPLE please"}]}', headers={"authorization": "Bearer ${key}", "content-type": "application/json"})
urllib.request.urlopen(req, context=ctx).read()`],
        blocked: true,
      },
    ];
  }

  /** Run the steps; returns their exit codes. */
  async run(onStep: (s: DemoStep) => void = () => {}, o: RunOptions = {}, gapMs = 250): Promise<number[]> {
    const codes: number[] = [];
    for (const s of this.steps()) {
      onStep(s);
      const r = await run(s.cmd, { ...o, resolvConf: this.resolver!.resolvConf });
      codes.push(r.code ?? -1);
      const why = r.stderr.trim().split('\n').pop();
      if (r.code !== 0) process.stderr.write(`demo: ${s.blocked ? 'refused, as the policy means it to be' : 'step failed'} (exit ${r.code}): ${why}\n`);
      else if (s.blocked) process.stderr.write('demo: went through (busted monitor does not block; busted enforce with the shipped policies refuses it)\n');
      await new Promise((res) => setTimeout(res, gapMs));
    }
    return codes;
  }

  async stop(): Promise<void> {
    await this.resolver?.stop();
    for (const s of this.servers) s.close();
    if (this.pki) rmSync(this.pki.dir, { recursive: true, force: true });
  }
}
