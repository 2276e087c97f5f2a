/** Defaults shared by the command line, the kernel loader and the engine. */

/** Plaintext copied per SSL_read/SSL_write call unless told otherwise (--tls-capture-bytes). */
export const TLS_CAPTURE_BYTES = 16384;
