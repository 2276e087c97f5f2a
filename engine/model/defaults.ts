/** Defaults shared by the command line, the kernel loader and the engine. */

/** Plaintext copied per SSL_read/SSL_write call unless told otherwise (--tls-capture-bytes). */
export const TLS_CAPTURE_BYTES = 16384;

/** --ui with no address: the dashboard on 127.0.0.1 at this port. */
export const DEFAULT_UI_PORT = 7777;
/** --metrics with no address: Prometheus metrics on 127.0.0.1 at this port. */
export const DEFAULT_METRICS_PORT = 9464;
/** --spill-dir: where webhook events wait on disk while the endpoint is down. */
export const DEFAULT_SPILL_DIR = '/var/lib/busted/spill';
