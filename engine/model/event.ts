/**
 * The event model of ../shared/CONTRACT.md ("Events"): plain data, no
 * behaviour. Every stage of the engine speaks these types; fields that do
 * not apply are absent (never null), which is why everything is optional.
 */

export type EventType =
  | 'connect'
  | 'close'
  | 'dns_query'
  | 'dns_response'
  | 'tls_client_hello'
  | 'tls_server_hello'
  | 'tls_data'
  | 'llm_request'
  | 'llm_response'
  | 'mcp_message'
  | 'decision'
  | 'error'
  // Additions to the contract's list (allowed: "add to it freely").
  | 'exec'
  | 'exit'
  | 'accept'
  | 'connect_failed'
  | 'lost'
  /** a policy was loaded or reloaded (busted enforce): its revision */
  | 'policy'
  /** the kernel refused a connect() (or a UDP send) with EPERM (busted enforce) */
  | 'connect_blocked'
  /** the traffic shape of a TCP connection this host opened: while busy (phase update) and at its close (end) */
  | 'flow';

export interface ProcessInfo {
  pid: number;
  tid?: number;
  ppid?: number;
  uid?: number;
  gid?: number;
  comm?: string;
  exe?: string;
  /** SHA-256 of the executable the process runs (hex), when hashing is on: a policy reads it, or --exe-hash (host/exe-hash.ts) */
  exe_sha256?: string;
  cmdline?: string;
  cgroup_id?: number;
  cgroup_path?: string;
  container_id?: string;
  /** docker | containerd | cri-o | podman | kubepods (when known) */
  container_runtime?: string;
  /** pod UID from a kubepods cgroup path */
  pod_uid?: string;
  /** the Kubernetes pod: uid and QoS class from the cgroup path, the rest from the API server (when reachable) */
  pod?: PodInfo;
  /**
   * The processes above it, nearest first (its parent, the parent's
   * parent…), up to 4, init left out: the chain a command came down, such
   * as an AI agent, the shell it ran and the curl that shell ran
   */
  ancestors?: Ancestor[];
}

export interface Ancestor {
  pid: number;
  comm?: string;
  exe?: string;
}

export interface PodInfo {
  uid: string;
  qos_class?: 'guaranteed' | 'burstable' | 'besteffort';
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  service_account?: string;
  /** the container's name in the pod spec, and its image */
  container?: string;
  image?: string;
}

export interface NetInfo {
  protocol: 'tcp' | 'udp';
  family: 4 | 6;
  /** absent where the connection never got a source (connect_blocked) */
  src_ip?: string;
  src_port?: number;
  dst_ip: string;
  dst_port: number;
  bytes_sent?: number;
  bytes_received?: number;
  /** egress: this host opened it; ingress: a peer connected to us */
  direction?: 'egress' | 'ingress';
  /** the name the destination was looked up as (DNS) or asked for (SNI) */
  dst_host?: string;
  /** milliseconds from the first to the last packet/state, on close */
  duration_ms?: number;
}

export interface DnsQuestion {
  name: string;
  type: string;
}

export interface DnsAnswer {
  name: string;
  type: string;
  /** A/AAAA: the address; CNAME/PTR/NS: the name; TXT: the joined text; others: a printable form */
  value: string;
  ttl: number;
}

export interface DnsInfo {
  id: number;
  rcode?: string;
  questions: DnsQuestion[];
  answers?: DnsAnswer[];
}

export interface TlsInfo {
  sni?: string;
  /** negotiated (ServerHello) or highest offered (ClientHello): "TLS 1.3", "TLS 1.2", ... */
  version?: string;
  /** the record/legacy version on the wire, for compliance */
  legacy_version?: string;
  /** ClientHello: the supported_versions extension, highest first */
  supported_versions?: string[];
  cipher?: string;
  ciphers?: string[];
  alpn?: string[];
  ja4?: string;
  /** ClientHello extension types in wire order (numbers, GREASE removed) */
  extensions?: number[];
  /** ClientHello: named groups offered; ServerHello: the group chosen */
  groups?: string[];
  /** true when the hello was cut short by the capture and parsed partly */
  truncated?: boolean;
  /**
   * ClientHello: whether busted reads this connection's plaintext (the
   * process runs a TLS library its probes are on); false for Go, GnuTLS,
   * NSS, a static BoringSSL... — content policies cannot see those requests
   */
  plaintext?: boolean;
  direction?: 'write' | 'read';
  bytes?: number;
  payload?: string;
}

export interface HttpInfo {
  /** '2' on HTTP/2 (absent: HTTP/1.x) */
  version?: string;
  method?: string;
  path?: string;
  host?: string;
  status?: number;
  content_type?: string;
  /** an LLM call's or MCP message's User-Agent, as the client sent it (up to 256 characters, secrets redacted) */
  user_agent?: string;
  /** an LLM call's or MCP message's W3C trace context (`traceparent`), as a traced client sent it: busted's span of the call joins that trace */
  traceparent?: string;
}

/** The library or program that made an LLM call, as its headers name it (interpret/client.ts). */
export interface LlmClient {
  /** `openai-python`, `anthropic-js`, `google-genai`, `boto3`, `claude-cli`, `curl`, … */
  name: string;
  version?: string;
  /** python, js, go, java, … where the headers say */
  language?: string;
}

export interface LlmInfo {
  provider?: string;
  endpoint?: string;
  model?: string;
  stream?: boolean;
  /** the SDK, agent or HTTP client that made the call (its headers' own words), on the request and its answer */
  client?: LlmClient;
  user_message?: string;
  system_prompt?: string;
  /**
   * A request's other text (llm.ts contextOf): every string of its body
   * besides the two above, such as earlier turns, tool results and tool
   * calls' arguments. Whole for policies; outputs get its end only
   * (CONTEXT_SHOWN characters, pipeline.ts), since each request of a
   * conversation repeats the whole conversation.
   */
  context?: string;
  tools?: unknown[];
  /** names of the tools the model called (a response), or that the last assistant turn called (a request) */
  tool_calls?: string[];
  usage?: { input_tokens?: number; output_tokens?: number };
  /** an answer: the id of the event that reported its request (its prompt, and the decision on it) */
  request_event?: string;
  /** an answer: from the request's last write to the answer's last read, as the kernel timed those calls (ms) */
  duration_ms?: number;
  /** a streamed answer: from the request's last write to the first piece of the answer's body (time to first token, ms) */
  ttft_ms?: number;
  /**
   * A request judged on part of its body while the rest is still to come
   * (app.ts judgePart): its writes are let go one by one, so each held
   * part is put to the policy before it may leave. `user_message` and
   * `context` are then both the text of that part (with the end of the part
   * before it): which of the body's texts it holds is not known yet. Told
   * only when it is blocked: the whole request
   * is decided as usual when it completes.
   */
  partial?: boolean;
}

export interface McpInfo {
  kind: 'request' | 'response' | 'notification';
  method?: string;
  id?: string | number;
  tool?: string;
  /**
   * What a request or notification sends besides its method and tool: the
   * strings of its params (a tool call's arguments), as llm.context is for
   * an LLM request; what an answer hands back: a `tools/list` answer's
   * descriptions of its tools, another's content (a tool's result, a
   * resource's text); shown by its end in outputs.
   */
  context?: string;
  /** an answer paired with its request: the id of the event that reported the request */
  request_event?: string;
  /** the W3C trace context a traced client sent in the request's `params._meta` (an answer: its request's) */
  traceparent?: string;
  /** an answer paired with its request: from the request's write (or read) to the answer's, as the kernel timed them (ms) */
  duration_ms?: number;
  /** `stdio`: written to a pipe or UNIX socket between a client and the server it spawned (no http, no net) */
  transport?: 'stdio';
  /** stdio: the process at the other end (the server a client writes to, the client a server answers) */
  peer?: { pid: number; comm?: string; exe?: string; exe_sha256?: string; cmdline?: string };
  /** stdio: the message was longer than what the kernel copied (bpf/stdio.bpf.c), read by its start */
  truncated?: true;
  /** the client, as its `initialize` named itself (clientInfo): on that message and every later one of its session (interpret/mcp-session.ts) */
  client?: McpParty;
  /** the server, as its answer to `initialize` named it (serverInfo): on that answer and every later message of its session */
  server?: McpParty;
  /** `initialize` and its answer: the protocol revision the client asked for, and the one the server chose */
  protocol_version?: string;
  /** the answer to `tools/list`: the names of the tools the server offers (their descriptions are its `context`) */
  tools?: string[];
  /**
   * the answer to `tools/list` differs from the first this server (by name
   * and version) gave in this run: its tools changed under the same version
   * (a "rug pull": a tool approved as harmless redefined later)
   */
  tools_changed?: true;
}

/** A side of an MCP session, as `initialize` names it (its clientInfo or serverInfo). */
export interface McpParty {
  name: string;
  version?: string;
}

/**
 * The shape of one TCP connection's traffic, counted in the kernel on every
 * send and receive (bpf/flow.bpf.h, bpf/busted.h busted_flow_event): the
 * behavioural classifier's input. An exchange is a request (sends) and its
 * response (receives); a burst is a run of receives less than a
 * millisecond apart. Byte totals are in the event's `net`.
 */
export interface FlowInfo {
  /** update: the connection is open, totals so far; end: it closed */
  phase: 'update' | 'end';
  sends: number;
  recvs: number;
  exchanges: number;
  bursts: number;
  /** connect() → this report */
  age_ms: number;
  /** first → latest send or receive */
  active_ms: number;
  /** latest send or receive → this report */
  quiet_ms: number;
  /** time to first byte: a request's last send → its response's first receive (exchanges that got one) */
  ttfb_ms?: { first: number; min: number; max: number; mean: number; count: number };
  req_bytes_max: number;
  resp_bytes_max: number;
  resp_ms_max: number;
  /** the longest silence between a response and the next request */
  idle_ms_max: number;
  /** gaps between the bursts of one response (the cadence of a streamed answer) */
  gaps: number;
  gap_ms_mean?: number;
  gap_ms_sd?: number;
  /** bursts by size: <64 B, <256, <1 KiB, <4 KiB, <16 KiB, <64 KiB, <256 KiB, more */
  burst_hist: number[];
  /** gaps by length: <5 ms, <10, <20, <50, <100, <250, <1000, more */
  gap_hist: number[];
}

export interface MlInfo {
  llm_score: number;
  label: string;
}

export interface DecisionInfo {
  action: 'allow' | 'audit' | 'block';
  reasons: string[];
  enforced: boolean;
  policy_revision?: string;
  subject: string;
}

/** A policy (re)load that took effect (`type: "policy"`); a failed one is an `error` event with code BUSTED_E_POLICY. */
export interface PolicyInfo {
  /** a hash of the sources (Rego files and data, or the bundle) */
  revision: string;
  /** what --policies named: a directory, a bundle file or an http(s) URL */
  source: string;
  /** 0 for the load at start, then 1, 2, ... */
  reloads: number;
  /** the revision it replaced (reloads only) */
  previous?: string;
  /** what changed on disk, when a file watcher noticed it */
  changed?: string[];
}

/** How the kernel refused a connection (`connect_blocked`). */
export interface EnforcementInfo {
  /** which verdict applied: the program image's, its cgroup's (image not evaluated yet), the default, or a host the policy refused to this process */
  verdict: 'image' | 'cgroup' | 'default' | 'host';
  /** the destination's class: a provider slug, or 'host' */
  class?: string;
}

export interface ErrorInfo {
  /** stable code, e.g. BUSTED_E_DNS_MALFORMED */
  code: string;
  message: string;
  /** the offending field or input, where there is one */
  field?: string;
}

export interface ExitInfo {
  code: number;
  signal?: number;
  duration_ms?: number;
}

export interface BustedEvent {
  id: string;
  /** RFC 3339, nanoseconds, UTC */
  time: string;
  type: EventType;
  process?: ProcessInfo;
  net?: NetInfo;
  dns?: DnsInfo;
  tls?: TlsInfo;
  provider?: string;
  http?: HttpInfo;
  llm?: LlmInfo;
  mcp?: McpInfo;
  ml?: MlInfo;
  flow?: FlowInfo;
  decision?: DecisionInfo;
  policy?: PolicyInfo;
  enforcement?: EnforcementInfo;
  error?: ErrorInfo;
  exit?: ExitInfo;
  /** lost: how many kernel records could not be delivered since the last report */
  lost?: { count: number; reason: string };
}
