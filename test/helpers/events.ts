/** Synthetic events for sink, metrics and dashboard tests: shaped like the interpreter's. */
import type { BustedEvent } from '../../engine/model/event.js';

const proc = Object.freeze({ pid: 4242, ppid: 1, uid: 0, gid: 0, comm: 'curl', exe: '/usr/bin/curl', cmdline: 'curl https://api.openai.com/v1/chat/completions' });

/** Event number i: a mix of connects, LLM calls and answers, with a sequence number in its id. */
export function makeEvent(i: number, pad = 0): BustedEvent {
  const time = `2026-12-05T10:00:${String(Math.floor(i / 1000) % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}000123Z`;
  const base = { id: `ev-${i}`, time, process: proc, provider: 'openai' } as const;
  switch (i % 3) {
    case 0:
      return { ...base, type: 'connect', net: { protocol: 'tcp', family: 4, src_ip: '127.0.0.1', src_port: 40000 + (i % 1000), dst_ip: '127.0.0.1', dst_port: 443, dst_host: 'api.openai.com' } };
    case 1:
      return { ...base, type: 'llm_request', http: { method: 'POST', path: '/v1/chat/completions', host: 'api.openai.com' }, llm: { provider: 'openai', endpoint: 'chat', model: 'gpt-4o-mini', user_message: 'Say hello ' + 'x'.repeat(pad) } };
    default:
      return { ...base, type: 'llm_response', http: { status: 200 }, llm: { provider: 'openai', model: 'gpt-4o-mini-2024-07-18', usage: { input_tokens: 12, output_tokens: 6 } } };
  }
}

/** The sequence numbers of JSON lines made from makeEvent's events. */
export function seqs(lines: string[]): number[] {
  return lines.filter(Boolean).map((l) => Number((JSON.parse(l) as { id: string }).id.slice(3)));
}
