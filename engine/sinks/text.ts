/**
 * The human format: one line per event, readable at a glance. Time, type,
 * process, what happened, and the provider highlighted.
 */
import type { BustedEvent, McpParty, NetInfo } from '../model/event.js';

const C = { dim: '\x1b[2m', bold: '\x1b[1m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m', magenta: '\x1b[35m', reset: '\x1b[0m' };
const NONE = Object.fromEntries(Object.keys(C).map((k) => [k, ''])) as typeof C;

function endpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function flow(n: NetInfo): string {
  const arrow = n.direction === 'ingress' ? '←' : '→';
  const peer = n.dst_host ? `${n.dst_host} (${endpoint(n.dst_ip, n.dst_port)})` : endpoint(n.dst_ip, n.dst_port);
  const src = n.src_ip !== undefined && n.src_port !== undefined ? `${endpoint(n.src_ip, n.src_port)} ` : '';
  return `${n.protocol} ${src}${arrow} ${peer}`;
}

function bytes(n: number | undefined): string {
  if (n === undefined) return '?';
  if (n < 1024) return `${n}B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)}KiB`;
  return `${(n / (1 << 20)).toFixed(1)}MiB`;
}

/** One line per event: control characters (newlines in a command line) are escaped. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** A hello read out of QUIC Initials says so first (its JA4's q says it too, less plainly). */
function quic(e: BustedEvent): string {
  return e.net?.protocol === 'udp' ? 'quic ' : '';
}

export function textFormatter(color: boolean): (e: BustedEvent) => string {
  const c = color ? C : NONE;
  return (e) => {
    const time = e.time.slice(11, 26);
    const p = e.process;
    const who = p ? (p.pid ? `${c.bold}${p.comm ?? '?'}${c.reset}[${p.pid}]` : `${c.dim}cgroup ${p.cgroup_path ?? p.cgroup_id ?? '?'}${c.reset}`) : '';
    let what = '';
    switch (e.type) {
      case 'exec':
        // where it came down from: its parent and theirs (an agent, the shell it ran)
        what = `${p?.cmdline ?? p?.exe ?? ''}${p?.ancestors?.length ? ` (from ${p.ancestors.slice(0, 3).map((a) => `${a.comm ?? '?'}[${a.pid}]`).join(' ← ')})` : ''}`;
        break;
      case 'exit':
        what = `code ${e.exit?.code ?? '?'}${e.exit?.signal ? ` signal ${e.exit.signal}` : ''} after ${e.exit?.duration_ms ?? '?'} ms`;
        break;
      case 'connect':
      case 'accept':
      case 'connect_failed':
        what = e.net ? flow(e.net) : '';
        break;
      case 'close':
        what = e.net ? `${flow(e.net)} sent ${bytes(e.net.bytes_sent)} received ${bytes(e.net.bytes_received)}${e.net.duration_ms !== undefined ? ` in ${e.net.duration_ms} ms` : ''}` : '';
        break;
      case 'dns_query':
        what = (e.dns?.questions ?? []).map((q) => `${q.type} ${q.name}`).join(', ');
        break;
      case 'dns_response': {
        const a = (e.dns?.answers ?? []).map((x) => `${x.type} ${x.value}`).join(', ');
        what = `${(e.dns?.questions ?? []).map((q) => q.name).join(', ')} ${e.dns?.rcode ?? ''}${a ? ` → ${a}` : ''}`;
        break;
      }
      case 'tls_client_hello':
        what = `${quic(e)}sni=${e.tls?.sni ?? '-'} alpn=${(e.tls?.alpn ?? []).join(',') || '-'} ${e.tls?.version ?? ''} ${e.tls?.ja4 ?? ''}`;
        break;
      case 'tls_server_hello':
        what = `${quic(e)}${e.tls?.version ?? ''} ${e.tls?.cipher ?? ''}${e.tls?.alpn?.length ? ` alpn=${e.tls.alpn.join(',')}` : ''}${e.tls?.sni ? ` sni=${e.tls.sni}` : ''}`;
        break;
      case 'error':
        what = `${c.red}${e.error?.code ?? ''}${c.reset} ${e.error?.message ?? ''}`;
        break;
      case 'lost':
        what = `${c.red}${e.lost?.count} events lost${c.reset} (${e.lost?.reason})`;
        break;
      case 'flow': {
        const f = e.flow;
        const ttfb = f?.ttfb_ms ? ` ttfb ${f.ttfb_ms.first} ms` : '';
        const gaps = f?.gap_ms_mean !== undefined ? ` every ${f.gap_ms_mean} ms` : '';
        what = e.net && f ? `${flow(e.net)} ${f.phase} ${f.exchanges} exchanges, sent ${bytes(e.net.bytes_sent)} received ${bytes(e.net.bytes_received)} in ${f.bursts} bursts${gaps}${ttfb}` : '';
        break;
      }
      case 'decision': {
        const a = e.decision?.action ?? '?';
        const col = a === 'block' ? c.red : a === 'audit' ? c.yellow : c.green;
        what = `${col}${c.bold}${a}${c.reset}${e.decision?.enforced ? ' (enforced)' : ''} ${e.decision?.reasons.join('; ') ?? ''} (subject ${e.decision?.subject})`;
        break;
      }
      case 'tls_data':
        what = `${e.tls?.direction ?? ''} ${bytes(e.tls?.bytes)}${e.tls?.sni ? ` sni=${e.tls.sni}` : ''}`;
        break;
      case 'llm_request': {
        const l = e.llm ?? {};
        const msg = l.user_message ? ` "${l.user_message.length > 60 ? `${l.user_message.slice(0, 57)}...` : l.user_message}"` : '';
        const by = l.client ? ` by ${l.client.name}${l.client.version ? `/${l.client.version}` : ''}` : '';
        what = `${e.http?.method ?? ''} ${e.http?.path ?? ''} model=${l.model ?? '?'}${l.stream ? ' stream' : ''}${by}${msg}`;
        break;
      }
      case 'llm_response': {
        const l = e.llm ?? {};
        what = `${e.http?.status ?? '?'} model=${l.model ?? '?'}${l.usage ? ` tokens in=${l.usage.input_tokens ?? '?'} out=${l.usage.output_tokens ?? '?'}` : ''}${l.tool_calls?.length ? ` tools=${l.tool_calls.join(',')}` : ''}${l.duration_ms !== undefined ? ` in ${l.duration_ms} ms${l.ttft_ms !== undefined ? ` (first token ${l.ttft_ms} ms)` : ''}` : ''}`;
        break;
      }
      case 'mcp_message': {
        const m = e.mcp;
        // initialize names the client; its answer, and every later message, the server
        const party = (p: McpParty) => `${p.name}${p.version ? ` ${p.version}` : ''}`;
        const who = m?.method === 'initialize' && m.kind === 'request' && m.client ? ` client=${party(m.client)}` : m?.server ? ` server=${party(m.server)}` : '';
        const tools = m?.tools ? ` tools=${m.tools.length > 8 ? `${m.tools.slice(0, 8).join(',')},…(${m.tools.length})` : m.tools.join(',')}${m.tools_changed ? ' (changed since first listed)' : ''}` : '';
        what = `${m?.kind ?? ''} ${m?.method ?? ''}${m?.tool ? ` tool=${m.tool}` : ''}${who}${tools}${e.http?.host ? ` host=${e.http.host}` : ''}${m?.transport === 'stdio' ? ` over stdio${m.peer ? ` with ${m.peer.comm ?? '?'}[${m.peer.pid}]` : ''}` : ''}${m?.truncated ? ' (cut)' : ''}${m?.duration_ms !== undefined ? ` in ${m.duration_ms} ms` : ''}`;
        break;
      }
      case 'connect_blocked':
        what = `${c.red}EPERM${c.reset} ${e.net ? flow(e.net) : ''} (${e.enforcement?.verdict ?? '?'} verdict)`;
        break;
      case 'policy':
        what = `revision ${e.policy?.revision} from ${e.policy?.source}${e.policy?.reloads ? ` (reload ${e.policy.reloads}${e.policy.changed?.length ? `: ${e.policy.changed.join(', ')}` : ''})` : ''}`;
        break;
      default:
        what = e.net ? flow(e.net) : '';
    }
    const prov = (e.provider ? ` ${c.magenta}${c.bold}[${e.provider}]${c.reset}` : '') + (e.ml ? ` ${e.ml.label === 'llm' ? c.yellow : c.dim}ml ${e.ml.label} ${e.ml.llm_score.toFixed(2)}${c.reset}` : '');
    const type = e.type.padEnd(16);
    return `${c.dim}${time}${c.reset} ${c.cyan}${type}${c.reset} ${who} ${printable(what)}${prov}`.replace(/\s+$/, '');
  };
}
