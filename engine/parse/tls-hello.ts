/**
 * ClientHello / ServerHello parser for hellos captured off the wire.
 *
 * Layouts: RFC 8446 §4.1.2 (ClientHello), §4.1.3 (ServerHello, which a
 * HelloRetryRequest reuses), §4.2 (extensions), §5.1 (record layer);
 * RFC 5246 §6.2.1 and §7.4.1.2-3 for TLS 1.0-1.2, where the extensions block
 * may be missing altogether. Extension bodies: RFC 6066 §3 (server_name),
 * RFC 7301 §3.1 (ALPN), RFC 8422 §5.1.1 / RFC 7919 (supported_groups),
 * RFC 8446 §4.2.1 (supported_versions), §4.2.3 (signature_algorithms),
 * §4.2.8 (key_share). GREASE values (RFC 8701) are dropped everywhere.
 *
 * The capture may stop anywhere, so "ran out of bytes" (partial result,
 * truncated: true) is kept apart from "the bytes contradict themselves"
 * (ParseError): every length is first checked against its declared
 * container, and only then against what was captured.
 */
import type { TlsInfo } from '../model/event.js';
import { ErrorCode, ParseError } from '../model/errors.js';
import { ja4 } from './ja4.js';

export type HelloKind = 'client_hello' | 'server_hello';

export interface ParsedHello {
  kind: HelloKind;
  tls: TlsInfo;
  /**
   * Bytes of TLS records needed to hold the whole handshake message (5-byte
   * record header + handshake length, plus one more record header per extra
   * record when the message spans several). While later record headers have
   * not been captured this is a lower bound: call again with more bytes.
   */
  needed: number;
}

const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const HANDSHAKE_SERVER_HELLO = 2;
/** RFC 8446 §5.1 / RFC 5246 §6.2.1: a plaintext fragment is at most 2^14 bytes. */
const MAX_RECORD = 1 << 14;
/** The largest body each hello's own vectors allow; anything longer is not a hello. */
const MAX_CLIENT_HELLO = 2 + 32 + (1 + 32) + (2 + 0xfffe) + (1 + 0xff) + (2 + 0xffff);
const MAX_SERVER_HELLO = 2 + 32 + (1 + 32) + 2 + 1 + (2 + 0xffff);

const EXT_SERVER_NAME = 0;
const EXT_SUPPORTED_GROUPS = 10;
const EXT_SIGNATURE_ALGORITHMS = 13;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
const EXT_KEY_SHARE = 51;

/** RFC 8446 §4.1.3: SHA-256("HelloRetryRequest") in the random field marks an HRR. */
const HRR_RANDOM = new Uint8Array([
  0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
  0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
]);

const HEX = '0123456789abcdef';

function hex4(v: number): string {
  return '0x' + HEX[(v >> 12) & 15] + HEX[(v >> 8) & 15] + HEX[(v >> 4) & 15] + HEX[v & 15];
}

/** RFC 8701: 0x?a?a with both bytes equal. */
function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

export function tlsVersionName(v: number): string {
  switch (v) {
    case 0x0304:
      return 'TLS 1.3';
    case 0x0303:
      return 'TLS 1.2';
    case 0x0302:
      return 'TLS 1.1';
    case 0x0301:
      return 'TLS 1.0';
    case 0x0300:
      return 'SSL 3.0';
    default:
      return hex4(v);
  }
}

/**
 * IANA TLS Cipher Suites registry (tls-parameters-4), every assigned value,
 * plus pre-IANA codes still seen in the wild: EXPORT1024 (0x0060-0x0066),
 * draft ChaCha20 (0xcc13-0xcc15, old BoringSSL) and NSS's FIPS DES/3DES
 * (0xfefe, 0xfeff, 0xffe0, 0xffe1). Weak and legacy suites stay in on purpose:
 * compliance rules match on their names.
 */
const CIPHER_TABLE = `
0000 TLS_NULL_WITH_NULL_NULL
0001 TLS_RSA_WITH_NULL_MD5
0002 TLS_RSA_WITH_NULL_SHA
0003 TLS_RSA_EXPORT_WITH_RC4_40_MD5
0004 TLS_RSA_WITH_RC4_128_MD5
0005 TLS_RSA_WITH_RC4_128_SHA
0006 TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5
0007 TLS_RSA_WITH_IDEA_CBC_SHA
0008 TLS_RSA_EXPORT_WITH_DES40_CBC_SHA
0009 TLS_RSA_WITH_DES_CBC_SHA
000a TLS_RSA_WITH_3DES_EDE_CBC_SHA
000b TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA
000c TLS_DH_DSS_WITH_DES_CBC_SHA
000d TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA
000e TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA
000f TLS_DH_RSA_WITH_DES_CBC_SHA
0010 TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA
0011 TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA
0012 TLS_DHE_DSS_WITH_DES_CBC_SHA
0013 TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA
0014 TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA
0015 TLS_DHE_RSA_WITH_DES_CBC_SHA
0016 TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA
0017 TLS_DH_anon_EXPORT_WITH_RC4_40_MD5
0018 TLS_DH_anon_WITH_RC4_128_MD5
0019 TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA
001a TLS_DH_anon_WITH_DES_CBC_SHA
001b TLS_DH_anon_WITH_3DES_EDE_CBC_SHA
001e TLS_KRB5_WITH_DES_CBC_SHA
001f TLS_KRB5_WITH_3DES_EDE_CBC_SHA
0020 TLS_KRB5_WITH_RC4_128_SHA
0021 TLS_KRB5_WITH_IDEA_CBC_SHA
0022 TLS_KRB5_WITH_DES_CBC_MD5
0023 TLS_KRB5_WITH_3DES_EDE_CBC_MD5
0024 TLS_KRB5_WITH_RC4_128_MD5
0025 TLS_KRB5_WITH_IDEA_CBC_MD5
0026 TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA
0027 TLS_KRB5_EXPORT_WITH_RC2_CBC_40_SHA
0028 TLS_KRB5_EXPORT_WITH_RC4_40_SHA
0029 TLS_KRB5_EXPORT_WITH_DES_CBC_40_MD5
002a TLS_KRB5_EXPORT_WITH_RC2_CBC_40_MD5
002b TLS_KRB5_EXPORT_WITH_RC4_40_MD5
002c TLS_PSK_WITH_NULL_SHA
002d TLS_DHE_PSK_WITH_NULL_SHA
002e TLS_RSA_PSK_WITH_NULL_SHA
002f TLS_RSA_WITH_AES_128_CBC_SHA
0030 TLS_DH_DSS_WITH_AES_128_CBC_SHA
0031 TLS_DH_RSA_WITH_AES_128_CBC_SHA
0032 TLS_DHE_DSS_WITH_AES_128_CBC_SHA
0033 TLS_DHE_RSA_WITH_AES_128_CBC_SHA
0034 TLS_DH_anon_WITH_AES_128_CBC_SHA
0035 TLS_RSA_WITH_AES_256_CBC_SHA
0036 TLS_DH_DSS_WITH_AES_256_CBC_SHA
0037 TLS_DH_RSA_WITH_AES_256_CBC_SHA
0038 TLS_DHE_DSS_WITH_AES_256_CBC_SHA
0039 TLS_DHE_RSA_WITH_AES_256_CBC_SHA
003a TLS_DH_anon_WITH_AES_256_CBC_SHA
003b TLS_RSA_WITH_NULL_SHA256
003c TLS_RSA_WITH_AES_128_CBC_SHA256
003d TLS_RSA_WITH_AES_256_CBC_SHA256
003e TLS_DH_DSS_WITH_AES_128_CBC_SHA256
003f TLS_DH_RSA_WITH_AES_128_CBC_SHA256
0040 TLS_DHE_DSS_WITH_AES_128_CBC_SHA256
0041 TLS_RSA_WITH_CAMELLIA_128_CBC_SHA
0042 TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA
0043 TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA
0044 TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA
0045 TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA
0046 TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA
0060 TLS_RSA_EXPORT1024_WITH_RC4_56_MD5
0061 TLS_RSA_EXPORT1024_WITH_RC2_CBC_56_MD5
0062 TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA
0063 TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA
0064 TLS_RSA_EXPORT1024_WITH_RC4_56_SHA
0065 TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA
0066 TLS_DHE_DSS_WITH_RC4_128_SHA
0067 TLS_DHE_RSA_WITH_AES_128_CBC_SHA256
0068 TLS_DH_DSS_WITH_AES_256_CBC_SHA256
0069 TLS_DH_RSA_WITH_AES_256_CBC_SHA256
006a TLS_DHE_DSS_WITH_AES_256_CBC_SHA256
006b TLS_DHE_RSA_WITH_AES_256_CBC_SHA256
006c TLS_DH_anon_WITH_AES_128_CBC_SHA256
006d TLS_DH_anon_WITH_AES_256_CBC_SHA256
0084 TLS_RSA_WITH_CAMELLIA_256_CBC_SHA
0085 TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA
0086 TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA
0087 TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA
0088 TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA
0089 TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA
008a TLS_PSK_WITH_RC4_128_SHA
008b TLS_PSK_WITH_3DES_EDE_CBC_SHA
008c TLS_PSK_WITH_AES_128_CBC_SHA
008d TLS_PSK_WITH_AES_256_CBC_SHA
008e TLS_DHE_PSK_WITH_RC4_128_SHA
008f TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA
0090 TLS_DHE_PSK_WITH_AES_128_CBC_SHA
0091 TLS_DHE_PSK_WITH_AES_256_CBC_SHA
0092 TLS_RSA_PSK_WITH_RC4_128_SHA
0093 TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA
0094 TLS_RSA_PSK_WITH_AES_128_CBC_SHA
0095 TLS_RSA_PSK_WITH_AES_256_CBC_SHA
0096 TLS_RSA_WITH_SEED_CBC_SHA
0097 TLS_DH_DSS_WITH_SEED_CBC_SHA
0098 TLS_DH_RSA_WITH_SEED_CBC_SHA
0099 TLS_DHE_DSS_WITH_SEED_CBC_SHA
009a TLS_DHE_RSA_WITH_SEED_CBC_SHA
009b TLS_DH_anon_WITH_SEED_CBC_SHA
009c TLS_RSA_WITH_AES_128_GCM_SHA256
009d TLS_RSA_WITH_AES_256_GCM_SHA384
009e TLS_DHE_RSA_WITH_AES_128_GCM_SHA256
009f TLS_DHE_RSA_WITH_AES_256_GCM_SHA384
00a0 TLS_DH_RSA_WITH_AES_128_GCM_SHA256
00a1 TLS_DH_RSA_WITH_AES_256_GCM_SHA384
00a2 TLS_DHE_DSS_WITH_AES_128_GCM_SHA256
00a3 TLS_DHE_DSS_WITH_AES_256_GCM_SHA384
00a4 TLS_DH_DSS_WITH_AES_128_GCM_SHA256
00a5 TLS_DH_DSS_WITH_AES_256_GCM_SHA384
00a6 TLS_DH_anon_WITH_AES_128_GCM_SHA256
00a7 TLS_DH_anon_WITH_AES_256_GCM_SHA384
00a8 TLS_PSK_WITH_AES_128_GCM_SHA256
00a9 TLS_PSK_WITH_AES_256_GCM_SHA384
00aa TLS_DHE_PSK_WITH_AES_128_GCM_SHA256
00ab TLS_DHE_PSK_WITH_AES_256_GCM_SHA384
00ac TLS_RSA_PSK_WITH_AES_128_GCM_SHA256
00ad TLS_RSA_PSK_WITH_AES_256_GCM_SHA384
00ae TLS_PSK_WITH_AES_128_CBC_SHA256
00af TLS_PSK_WITH_AES_256_CBC_SHA384
00b0 TLS_PSK_WITH_NULL_SHA256
00b1 TLS_PSK_WITH_NULL_SHA384
00b2 TLS_DHE_PSK_WITH_AES_128_CBC_SHA256
00b3 TLS_DHE_PSK_WITH_AES_256_CBC_SHA384
00b4 TLS_DHE_PSK_WITH_NULL_SHA256
00b5 TLS_DHE_PSK_WITH_NULL_SHA384
00b6 TLS_RSA_PSK_WITH_AES_128_CBC_SHA256
00b7 TLS_RSA_PSK_WITH_AES_256_CBC_SHA384
00b8 TLS_RSA_PSK_WITH_NULL_SHA256
00b9 TLS_RSA_PSK_WITH_NULL_SHA384
00ba TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256
00bb TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA256
00bc TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA256
00bd TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256
00be TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256
00bf TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256
00c0 TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256
00c1 TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA256
00c2 TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA256
00c3 TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256
00c4 TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256
00c5 TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256
00c6 TLS_SM4_GCM_SM3
00c7 TLS_SM4_CCM_SM3
00ff TLS_EMPTY_RENEGOTIATION_INFO_SCSV
1301 TLS_AES_128_GCM_SHA256
1302 TLS_AES_256_GCM_SHA384
1303 TLS_CHACHA20_POLY1305_SHA256
1304 TLS_AES_128_CCM_SHA256
1305 TLS_AES_128_CCM_8_SHA256
1306 TLS_AEGIS_256_SHA384
1307 TLS_AEGIS_128L_SHA256
5600 TLS_FALLBACK_SCSV
c001 TLS_ECDH_ECDSA_WITH_NULL_SHA
c002 TLS_ECDH_ECDSA_WITH_RC4_128_SHA
c003 TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA
c004 TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA
c005 TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA
c006 TLS_ECDHE_ECDSA_WITH_NULL_SHA
c007 TLS_ECDHE_ECDSA_WITH_RC4_128_SHA
c008 TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA
c009 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
c00a TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
c00b TLS_ECDH_RSA_WITH_NULL_SHA
c00c TLS_ECDH_RSA_WITH_RC4_128_SHA
c00d TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA
c00e TLS_ECDH_RSA_WITH_AES_128_CBC_SHA
c00f TLS_ECDH_RSA_WITH_AES_256_CBC_SHA
c010 TLS_ECDHE_RSA_WITH_NULL_SHA
c011 TLS_ECDHE_RSA_WITH_RC4_128_SHA
c012 TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA
c013 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
c014 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
c015 TLS_ECDH_anon_WITH_NULL_SHA
c016 TLS_ECDH_anon_WITH_RC4_128_SHA
c017 TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA
c018 TLS_ECDH_anon_WITH_AES_128_CBC_SHA
c019 TLS_ECDH_anon_WITH_AES_256_CBC_SHA
c01a TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA
c01b TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA
c01c TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA
c01d TLS_SRP_SHA_WITH_AES_128_CBC_SHA
c01e TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA
c01f TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA
c020 TLS_SRP_SHA_WITH_AES_256_CBC_SHA
c021 TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA
c022 TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA
c023 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
c024 TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384
c025 TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256
c026 TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384
c027 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256
c028 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384
c029 TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256
c02a TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384
c02b TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
c02c TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
c02d TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256
c02e TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384
c02f TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
c030 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
c031 TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256
c032 TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384
c033 TLS_ECDHE_PSK_WITH_RC4_128_SHA
c034 TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA
c035 TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA
c036 TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA
c037 TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256
c038 TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384
c039 TLS_ECDHE_PSK_WITH_NULL_SHA
c03a TLS_ECDHE_PSK_WITH_NULL_SHA256
c03b TLS_ECDHE_PSK_WITH_NULL_SHA384
c03c TLS_RSA_WITH_ARIA_128_CBC_SHA256
c03d TLS_RSA_WITH_ARIA_256_CBC_SHA384
c03e TLS_DH_DSS_WITH_ARIA_128_CBC_SHA256
c03f TLS_DH_DSS_WITH_ARIA_256_CBC_SHA384
c040 TLS_DH_RSA_WITH_ARIA_128_CBC_SHA256
c041 TLS_DH_RSA_WITH_ARIA_256_CBC_SHA384
c042 TLS_DHE_DSS_WITH_ARIA_128_CBC_SHA256
c043 TLS_DHE_DSS_WITH_ARIA_256_CBC_SHA384
c044 TLS_DHE_RSA_WITH_ARIA_128_CBC_SHA256
c045 TLS_DHE_RSA_WITH_ARIA_256_CBC_SHA384
c046 TLS_DH_anon_WITH_ARIA_128_CBC_SHA256
c047 TLS_DH_anon_WITH_ARIA_256_CBC_SHA384
c048 TLS_ECDHE_ECDSA_WITH_ARIA_128_CBC_SHA256
c049 TLS_ECDHE_ECDSA_WITH_ARIA_256_CBC_SHA384
c04a TLS_ECDH_ECDSA_WITH_ARIA_128_CBC_SHA256
c04b TLS_ECDH_ECDSA_WITH_ARIA_256_CBC_SHA384
c04c TLS_ECDHE_RSA_WITH_ARIA_128_CBC_SHA256
c04d TLS_ECDHE_RSA_WITH_ARIA_256_CBC_SHA384
c04e TLS_ECDH_RSA_WITH_ARIA_128_CBC_SHA256
c04f TLS_ECDH_RSA_WITH_ARIA_256_CBC_SHA384
c050 TLS_RSA_WITH_ARIA_128_GCM_SHA256
c051 TLS_RSA_WITH_ARIA_256_GCM_SHA384
c052 TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256
c053 TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384
c054 TLS_DH_RSA_WITH_ARIA_128_GCM_SHA256
c055 TLS_DH_RSA_WITH_ARIA_256_GCM_SHA384
c056 TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256
c057 TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384
c058 TLS_DH_DSS_WITH_ARIA_128_GCM_SHA256
c059 TLS_DH_DSS_WITH_ARIA_256_GCM_SHA384
c05a TLS_DH_anon_WITH_ARIA_128_GCM_SHA256
c05b TLS_DH_anon_WITH_ARIA_256_GCM_SHA384
c05c TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256
c05d TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384
c05e TLS_ECDH_ECDSA_WITH_ARIA_128_GCM_SHA256
c05f TLS_ECDH_ECDSA_WITH_ARIA_256_GCM_SHA384
c060 TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256
c061 TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384
c062 TLS_ECDH_RSA_WITH_ARIA_128_GCM_SHA256
c063 TLS_ECDH_RSA_WITH_ARIA_256_GCM_SHA384
c064 TLS_PSK_WITH_ARIA_128_CBC_SHA256
c065 TLS_PSK_WITH_ARIA_256_CBC_SHA384
c066 TLS_DHE_PSK_WITH_ARIA_128_CBC_SHA256
c067 TLS_DHE_PSK_WITH_ARIA_256_CBC_SHA384
c068 TLS_RSA_PSK_WITH_ARIA_128_CBC_SHA256
c069 TLS_RSA_PSK_WITH_ARIA_256_CBC_SHA384
c06a TLS_PSK_WITH_ARIA_128_GCM_SHA256
c06b TLS_PSK_WITH_ARIA_256_GCM_SHA384
c06c TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256
c06d TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384
c06e TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256
c06f TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384
c070 TLS_ECDHE_PSK_WITH_ARIA_128_CBC_SHA256
c071 TLS_ECDHE_PSK_WITH_ARIA_256_CBC_SHA384
c072 TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256
c073 TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384
c074 TLS_ECDH_ECDSA_WITH_CAMELLIA_128_CBC_SHA256
c075 TLS_ECDH_ECDSA_WITH_CAMELLIA_256_CBC_SHA384
c076 TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256
c077 TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384
c078 TLS_ECDH_RSA_WITH_CAMELLIA_128_CBC_SHA256
c079 TLS_ECDH_RSA_WITH_CAMELLIA_256_CBC_SHA384
c07a TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256
c07b TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384
c07c TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256
c07d TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384
c07e TLS_DH_RSA_WITH_CAMELLIA_128_GCM_SHA256
c07f TLS_DH_RSA_WITH_CAMELLIA_256_GCM_SHA384
c080 TLS_DHE_DSS_WITH_CAMELLIA_128_GCM_SHA256
c081 TLS_DHE_DSS_WITH_CAMELLIA_256_GCM_SHA384
c082 TLS_DH_DSS_WITH_CAMELLIA_128_GCM_SHA256
c083 TLS_DH_DSS_WITH_CAMELLIA_256_GCM_SHA384
c084 TLS_DH_anon_WITH_CAMELLIA_128_GCM_SHA256
c085 TLS_DH_anon_WITH_CAMELLIA_256_GCM_SHA384
c086 TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256
c087 TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384
c088 TLS_ECDH_ECDSA_WITH_CAMELLIA_128_GCM_SHA256
c089 TLS_ECDH_ECDSA_WITH_CAMELLIA_256_GCM_SHA384
c08a TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256
c08b TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384
c08c TLS_ECDH_RSA_WITH_CAMELLIA_128_GCM_SHA256
c08d TLS_ECDH_RSA_WITH_CAMELLIA_256_GCM_SHA384
c08e TLS_PSK_WITH_CAMELLIA_128_GCM_SHA256
c08f TLS_PSK_WITH_CAMELLIA_256_GCM_SHA384
c090 TLS_DHE_PSK_WITH_CAMELLIA_128_GCM_SHA256
c091 TLS_DHE_PSK_WITH_CAMELLIA_256_GCM_SHA384
c092 TLS_RSA_PSK_WITH_CAMELLIA_128_GCM_SHA256
c093 TLS_RSA_PSK_WITH_CAMELLIA_256_GCM_SHA384
c094 TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256
c095 TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384
c096 TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256
c097 TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384
c098 TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256
c099 TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384
c09a TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256
c09b TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384
c09c TLS_RSA_WITH_AES_128_CCM
c09d TLS_RSA_WITH_AES_256_CCM
c09e TLS_DHE_RSA_WITH_AES_128_CCM
c09f TLS_DHE_RSA_WITH_AES_256_CCM
c0a0 TLS_RSA_WITH_AES_128_CCM_8
c0a1 TLS_RSA_WITH_AES_256_CCM_8
c0a2 TLS_DHE_RSA_WITH_AES_128_CCM_8
c0a3 TLS_DHE_RSA_WITH_AES_256_CCM_8
c0a4 TLS_PSK_WITH_AES_128_CCM
c0a5 TLS_PSK_WITH_AES_256_CCM
c0a6 TLS_DHE_PSK_WITH_AES_128_CCM
c0a7 TLS_DHE_PSK_WITH_AES_256_CCM
c0a8 TLS_PSK_WITH_AES_128_CCM_8
c0a9 TLS_PSK_WITH_AES_256_CCM_8
c0aa TLS_PSK_DHE_WITH_AES_128_CCM_8
c0ab TLS_PSK_DHE_WITH_AES_256_CCM_8
c0ac TLS_ECDHE_ECDSA_WITH_AES_128_CCM
c0ad TLS_ECDHE_ECDSA_WITH_AES_256_CCM
c0ae TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8
c0af TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8
c0b0 TLS_ECCPWD_WITH_AES_128_GCM_SHA256
c0b1 TLS_ECCPWD_WITH_AES_256_GCM_SHA384
c0b2 TLS_ECCPWD_WITH_AES_128_CCM_SHA256
c0b3 TLS_ECCPWD_WITH_AES_256_CCM_SHA384
c0b4 TLS_SHA256_SHA256
c0b5 TLS_SHA384_SHA384
c100 TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC
c101 TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC
c102 TLS_GOSTR341112_256_WITH_28147_CNT_IMIT
c103 TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_L
c104 TLS_GOSTR341112_256_WITH_MAGMA_MGM_L
c105 TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_S
c106 TLS_GOSTR341112_256_WITH_MAGMA_MGM_S
cc13 OLD_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
cc14 OLD_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
cc15 OLD_TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256
cca8 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
cca9 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
ccaa TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256
ccab TLS_PSK_WITH_CHACHA20_POLY1305_SHA256
ccac TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256
ccad TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256
ccae TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256
d001 TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256
d002 TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384
d003 TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256
d005 TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256
fefe SSL_RSA_FIPS_WITH_DES_CBC_SHA
feff SSL_RSA_FIPS_WITH_3DES_EDE_CBC_SHA
ffe0 SSL_RSA_OLDFIPS_WITH_3DES_EDE_CBC_SHA
ffe1 SSL_RSA_OLDFIPS_WITH_DES_CBC_SHA
`;

const CIPHERS = new Map<number, string>();
for (const line of CIPHER_TABLE.split('\n')) {
  if (line.length > 5) CIPHERS.set(parseInt(line.slice(0, 4), 16), line.slice(5));
}

export function cipherName(id: number): string {
  return CIPHERS.get(id) ?? hex4(id);
}

/** IANA TLS Supported Groups registry names (the ffdhe ones: RFC 7919). */
const GROUPS = new Map<number, string>([
  [0x0001, 'sect163k1'],
  [0x0002, 'sect163r1'],
  [0x0003, 'sect163r2'],
  [0x0004, 'sect193r1'],
  [0x0005, 'sect193r2'],
  [0x0006, 'sect233k1'],
  [0x0007, 'sect233r1'],
  [0x0008, 'sect239k1'],
  [0x0009, 'sect283k1'],
  [0x000a, 'sect283r1'],
  [0x000b, 'sect409k1'],
  [0x000c, 'sect409r1'],
  [0x000d, 'sect571k1'],
  [0x000e, 'sect571r1'],
  [0x000f, 'secp160k1'],
  [0x0010, 'secp160r1'],
  [0x0011, 'secp160r2'],
  [0x0012, 'secp192k1'],
  [0x0013, 'secp192r1'],
  [0x0014, 'secp224k1'],
  [0x0015, 'secp224r1'],
  [0x0016, 'secp256k1'],
  [0x0017, 'secp256r1'],
  [0x0018, 'secp384r1'],
  [0x0019, 'secp521r1'],
  [0x001a, 'brainpoolP256r1'],
  [0x001b, 'brainpoolP384r1'],
  [0x001c, 'brainpoolP512r1'],
  [0x001d, 'x25519'],
  [0x001e, 'x448'],
  [0x001f, 'brainpoolP256r1tls13'],
  [0x0020, 'brainpoolP384r1tls13'],
  [0x0021, 'brainpoolP512r1tls13'],
  [0x0100, 'ffdhe2048'],
  [0x0101, 'ffdhe3072'],
  [0x0102, 'ffdhe4096'],
  [0x0103, 'ffdhe6144'],
  [0x0104, 'ffdhe8192'],
  [0x0200, 'MLKEM512'],
  [0x0201, 'MLKEM768'],
  [0x0202, 'MLKEM1024'],
  [0x11eb, 'SecP256r1MLKEM768'],
  [0x11ec, 'X25519MLKEM768'],
  [0x11ed, 'SecP384r1MLKEM1024'],
  [0x6399, 'X25519Kyber768Draft00'],
  [0x639a, 'SecP256r1Kyber768Draft00'],
]);

function groupName(id: number): string {
  return GROUPS.get(id) ?? hex4(id);
}

/**
 * Any record version 3.0-3.4 passes: RFC 8446 §5.1 lets the first ClientHello
 * carry 0x0301 whatever is negotiated later, and old stacks send 0x0300.
 * Same checks parseTlsHello makes on the first record header, so a yes here
 * never meets a ParseError about that header there.
 */
export function looksLikeHello(data: Uint8Array): HelloKind | undefined {
  if (data.length < 6 || data[0] !== CONTENT_HANDSHAKE || data[1] !== 3 || data[2]! > 4) return undefined;
  const len = (data[3]! << 8) | data[4]!;
  if (len === 0 || len > MAX_RECORD) return undefined;
  if (data[5] === HANDSHAKE_CLIENT_HELLO) return 'client_hello';
  if (data[5] === HANDSHAKE_SERVER_HELLO) return 'server_hello';
  return undefined;
}

function malformed(message: string, offset: number, field?: string): never {
  throw new ParseError(ErrorCode.TLS_MALFORMED, message, offset, field);
}

/** Thrown (and always caught below) when the capture ends before the message does. */
const OUT_OF_BYTES = Symbol('out of bytes');

/** Non-fatal: bad UTF-8 becomes U+FFFD instead of throwing; a leading BOM is kept, not eaten. */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Checks the record header bytes at off (some may be missing) and returns the
 * fragment length, or -1 when the header itself is cut short.
 */
function recordHeader(data: Uint8Array, off: number): number {
  const n = data.length;
  if (off < n && data[off] !== CONTENT_HANDSHAKE) {
    malformed(`record content type ${data[off]} is not handshake (22)`, off, 'record.type');
  }
  if (off + 1 < n && data[off + 1] !== 3) malformed(`record version major ${data[off + 1]} is not 3`, off + 1, 'record.version');
  if (off + 2 < n && data[off + 2]! > 4) malformed(`record version 3.${data[off + 2]} is unknown`, off + 2, 'record.version');
  if (off + 5 > n) return -1;
  const len = (data[off + 3]! << 8) | data[off + 4]!;
  // RFC 8446 §5.1: zero-length handshake fragments are forbidden; also keeps the record walk advancing.
  if (len === 0) malformed('empty handshake record', off + 3, 'record.length');
  if (len > MAX_RECORD) malformed(`record length ${len} exceeds 2^14`, off + 3, 'record.length');
  return len;
}

/** A cursor over the reassembled handshake message. */
class Cursor {
  p = 4;
  constructor(
    readonly b: Uint8Array,
    /** bytes of the message actually captured */
    readonly avail: number,
    /** message offset -> offset in the caller's input, for error messages */
    readonly where: (o: number) => number,
  ) {}

  fail(message: string, at: number, field: string): never {
    return malformed(message, this.where(at), field);
  }

  /** Declared bounds first (malformed), then captured bytes (truncated). */
  need(k: number, end: number, field: string): void {
    if (this.p + k > end) this.fail(`${field} runs past its enclosing length`, this.p, field);
    if (this.p + k > this.avail) throw OUT_OF_BYTES;
  }

  u8(end: number, field: string): number {
    this.need(1, end, field);
    return this.b[this.p++]!;
  }

  u16(end: number, field: string): number {
    this.need(2, end, field);
    const v = (this.b[this.p]! << 8) | this.b[this.p + 1]!;
    this.p += 2;
    return v;
  }

  /** Reads a vector length prefix and returns where the vector ends; its contents may still be missing. */
  vec(lenBytes: 1 | 2, end: number, field: string): number {
    const at = this.p;
    const len = lenBytes === 1 ? this.u8(end, field) : this.u16(end, field);
    if (this.p + len > end) this.fail(`${field} length ${len} runs past its enclosing length`, at, field);
    return this.p + len;
  }

  /** Like vec, for a vector that must fill its container exactly. */
  vecExact(lenBytes: 1 | 2, end: number, field: string): number {
    const at = this.p;
    const vend = this.vec(lenBytes, end, field);
    if (vend !== end) this.fail(`${field} length disagrees with its enclosing length`, at, field);
    return vend;
  }

  /** A list of u16 values (even length required), GREASE dropped. */
  u16List(lenBytes: 1 | 2, end: number, field: string, out: number[]): void {
    const at = this.p;
    const vend = this.vecExact(lenBytes, end, field);
    if ((vend - this.p) & 1) this.fail(`${field} has an odd length`, at, field);
    while (this.p < vend) {
      const v = this.u16(vend, field);
      if (!isGrease(v)) out.push(v);
    }
  }

  skipTo(end: number, field: string): void {
    this.need(end - this.p, end, field);
    this.p = end;
  }

  text(start: number, end: number): string {
    return utf8.decode(this.b.subarray(start, end));
  }
}

/** What the body walk found so far; a truncated walk leaves it half filled. */
interface Found {
  legacy?: number;
  ciphers?: number[];
  cipher?: number;
  extensions?: number[];
  sniPresent: boolean;
  sni?: string;
  alpn?: string[];
  alpnFirst?: Uint8Array;
  groups?: number[];
  versions?: number[];
  sigalgs?: number[];
  selectedVersion?: number;
}

function parseExtensions(c: Cursor, end: number, found: Found, client: boolean, hrr: boolean): void {
  found.extensions = [];
  // RFC 5246 §7.4.1.2: before TLS 1.3 the whole extensions block is optional.
  if (c.p === end) return;
  const blockEnd = c.vecExact(2, end, 'extensions');
  while (c.p < blockEnd) {
    const typeAt = c.p;
    const type = c.u16(blockEnd, 'extension.type');
    const bodyEnd = c.vec(2, blockEnd, 'extension.length');
    // Only whole extensions are reported: half a host name would be a wrong host name.
    c.need(bodyEnd - c.p, bodyEnd, 'extension');
    if (!isGrease(type)) {
      // RFC 8446 §4.2: at most one of each; a second one would let a hello say two things at once.
      if (found.extensions.includes(type)) c.fail(`duplicate extension ${type}`, typeAt, 'extension.type');
      found.extensions.push(type);
    }
    switch (type) {
      case EXT_SERVER_NAME:
        // ServerHello acknowledges SNI with an empty body (RFC 6066 §3).
        if (client) found.sniPresent = true;
        if (c.p < bodyEnd) {
          const listEnd = c.vecExact(2, bodyEnd, 'server_name_list');
          while (c.p < listEnd) {
            const nameType = c.u8(listEnd, 'server_name.name_type');
            const nameEnd = c.vec(2, listEnd, 'server_name.host_name');
            if (nameType === 0 && found.sni === undefined && nameEnd > c.p) found.sni = c.text(c.p, nameEnd);
            c.p = nameEnd;
          }
        }
        break;
      case EXT_ALPN: {
        const listEnd = c.vecExact(2, bodyEnd, 'alpn.protocol_name_list');
        const names: string[] = [];
        while (c.p < listEnd) {
          const nameEnd = c.vec(1, listEnd, 'alpn.protocol_name');
          if (names.length === 0) found.alpnFirst = c.b.subarray(c.p, nameEnd);
          names.push(c.text(c.p, nameEnd));
          c.p = nameEnd;
        }
        if (names.length > 0) found.alpn = names;
        break;
      }
      case EXT_SUPPORTED_GROUPS:
        if (client) c.u16List(2, bodyEnd, 'supported_groups', (found.groups = []));
        break;
      case EXT_SIGNATURE_ALGORITHMS:
        if (client) c.u16List(2, bodyEnd, 'signature_algorithms', (found.sigalgs = []));
        break;
      case EXT_SUPPORTED_VERSIONS:
        if (client) {
          c.u16List(1, bodyEnd, 'supported_versions', (found.versions = []));
        } else {
          // RFC 8446 §4.2.1: the server names exactly one version.
          const v = c.u16(bodyEnd, 'supported_versions.selected_version');
          if (c.p !== bodyEnd) c.fail('supported_versions in a ServerHello must hold one version', c.p, 'supported_versions');
          found.selectedVersion = v;
        }
        break;
      case EXT_KEY_SHARE:
        if (!client) {
          // RFC 8446 §4.2.8: an HRR names only the group it wants; a ServerHello carries a whole KeyShareEntry.
          const group = c.u16(bodyEnd, 'key_share.group');
          if (hrr) {
            if (c.p !== bodyEnd) c.fail('key_share in a HelloRetryRequest must hold one group', c.p, 'key_share');
          } else {
            c.vecExact(2, bodyEnd, 'key_share.key_exchange');
          }
          if (!isGrease(group)) found.groups = [group];
        }
        break;
      default:
        break;
    }
    c.p = bodyEnd;
  }
}

function parseClientHello(c: Cursor, end: number, found: Found): void {
  found.legacy = c.u16(end, 'legacy_version');
  c.need(32, end, 'random');
  c.p += 32;
  const sidAt = c.p;
  const sidEnd = c.vec(1, end, 'legacy_session_id');
  if (sidEnd - sidAt - 1 > 32) c.fail('legacy_session_id longer than 32 bytes', sidAt, 'legacy_session_id');
  c.skipTo(sidEnd, 'legacy_session_id');
  const csAt = c.p;
  const csEnd = c.vec(2, end, 'cipher_suites');
  if ((csEnd - c.p) & 1) c.fail('cipher_suites has an odd length', csAt, 'cipher_suites');
  const ciphers: number[] = (found.ciphers = []);
  while (c.p < csEnd) {
    const id = c.u16(csEnd, 'cipher_suites');
    if (!isGrease(id)) ciphers.push(id);
  }
  c.skipTo(c.vec(1, end, 'legacy_compression_methods'), 'legacy_compression_methods');
  parseExtensions(c, end, found, true, false);
}

function parseServerHello(c: Cursor, end: number, found: Found): void {
  found.legacy = c.u16(end, 'legacy_version');
  c.need(32, end, 'random');
  // Only the random tells an HRR apart, and its key_share has a different shape.
  let hrr = true;
  for (let i = 0; i < 32; i++) {
    if (c.b[c.p + i] !== HRR_RANDOM[i]) {
      hrr = false;
      break;
    }
  }
  c.p += 32;
  const sidAt = c.p;
  const sidEnd = c.vec(1, end, 'legacy_session_id_echo');
  if (sidEnd - sidAt - 1 > 32) c.fail('legacy_session_id_echo longer than 32 bytes', sidAt, 'legacy_session_id_echo');
  c.skipTo(sidEnd, 'legacy_session_id_echo');
  found.cipher = c.u16(end, 'cipher_suite');
  c.u8(end, 'legacy_compression_method');
  parseExtensions(c, end, found, false, hrr);
}

/** Where message byte o sits in the input, given the fragments it was copied from (start, end pairs). */
function mapper(frags: number[]): (o: number) => number {
  return (o) => {
    for (let i = 0; i < frags.length; i += 2) {
      const len = frags[i + 1]! - frags[i]!;
      if (o < len) return frags[i]! + o;
      o -= len;
    }
    return frags.length ? frags[frags.length - 1]! + o : o;
  };
}

/**
 * Input: bytes starting at a TLS record header (0x16 0x03 ..). May be
 * truncated: what was read before the cut is returned with tls.truncated set
 * (no ja4 then: a fingerprint of half a hello would name the wrong client).
 * Throws ParseError(BUSTED_E_TLS_MALFORMED) for input that is not a handshake
 * record carrying a hello, or whose lengths contradict each other, and for
 * input too short to hold the handshake type. Never throws anything else.
 */
export function parseTlsHello(data: Uint8Array): ParsedHello {
  // Pass 1: walk the records, find the handshake message, note the fragments it is made of.
  const scratch = [0, 0, 0, 0];
  let off = 0;
  let got = 0;
  let need = -1;
  let msgType = -1;
  let needed = 0;
  let truncated = false;
  const frags: number[] = [];
  for (;;) {
    const len = recordHeader(data, off);
    if (len < 0) {
      truncated = true;
      needed = off + 5 + ((need < 0 ? 4 : need) - got);
      break;
    }
    const body = off + 5;
    const avail = Math.min(len, data.length - body);
    // The 4-byte handshake header may itself straddle records (RFC 8446 §5.1 allows any split).
    for (let i = 0; got + i < 4 && i < avail; i++) {
      scratch[got + i] = data[body + i]!;
      if (got + i === 0) {
        msgType = scratch[0]!;
        if (msgType !== HANDSHAKE_CLIENT_HELLO && msgType !== HANDSHAKE_SERVER_HELLO) {
          malformed(`handshake type ${msgType} is not ClientHello (1) or ServerHello (2)`, body + i, 'handshake.type');
        }
      }
      if (got + i === 3) {
        const msgLen = (scratch[1]! << 16) | (scratch[2]! << 8) | scratch[3]!;
        const max = msgType === HANDSHAKE_CLIENT_HELLO ? MAX_CLIENT_HELLO : MAX_SERVER_HELLO;
        if (msgLen > max) malformed(`handshake length ${msgLen} exceeds any possible hello`, body + i - 2, 'handshake.length');
        need = 4 + msgLen;
      }
    }
    const take = need < 0 ? len : Math.min(len, need - got);
    const present = Math.min(take, avail);
    if (present > 0) frags.push(body, body + present);
    got += present;
    if (present < take) {
      truncated = true;
      const rest = (need < 0 ? 4 : need) - (got - present + take);
      needed = body + take + (rest > 0 ? 5 + rest : 0);
      break;
    }
    if (need >= 0 && got === need) {
      needed = body + take;
      break;
    }
    off = body + len;
  }
  if (msgType < 0) malformed('input ends before the handshake type', data.length, 'handshake.type');
  const kind: HelloKind = msgType === HANDSHAKE_CLIENT_HELLO ? 'client_hello' : 'server_hello';
  if (need < 0) return { kind, tls: { truncated: true }, needed };

  // Pass 2: one contiguous view of the message; a copy only when it really spans records.
  let msg: Uint8Array;
  if (frags.length === 2) {
    msg = data.subarray(frags[0]!, frags[1]!);
  } else {
    msg = new Uint8Array(got);
    for (let i = 0, o = 0; i < frags.length; i += 2) {
      msg.set(data.subarray(frags[i]!, frags[i + 1]!), o);
      o += frags[i + 1]! - frags[i]!;
    }
  }
  const c = new Cursor(msg, got, mapper(frags));
  const found: Found = { sniPresent: false };
  let cut = false;
  try {
    if (kind === 'client_hello') parseClientHello(c, need, found);
    else parseServerHello(c, need, found);
  } catch (e) {
    if (e !== OUT_OF_BYTES) throw e;
    cut = true;
  }
  return { kind, tls: toTlsInfo(kind, found, truncated || cut), needed };
}

function toTlsInfo(kind: HelloKind, f: Found, truncated: boolean): TlsInfo {
  const tls: TlsInfo = {};
  if (f.sni !== undefined) tls.sni = f.sni;
  let versions: number[] | undefined;
  let version: number | undefined;
  if (kind === 'client_hello') {
    if (f.versions) {
      versions = f.versions.slice().sort((a, b) => b - a);
      if (versions.length > 0) version = versions[0];
    }
  } else {
    version = f.selectedVersion;
  }
  // A cut hello that has not shown supported_versions yet may still be TLS 1.3: no guessing.
  if (version === undefined && f.legacy !== undefined && !truncated) version = f.legacy;
  if (version !== undefined) tls.version = tlsVersionName(version);
  if (f.legacy !== undefined) tls.legacy_version = tlsVersionName(f.legacy);
  if (versions) tls.supported_versions = versions.map(tlsVersionName);
  if (f.cipher !== undefined) tls.cipher = cipherName(f.cipher);
  if (f.ciphers) tls.ciphers = f.ciphers.map(cipherName);
  if (f.alpn) tls.alpn = f.alpn;
  if (kind === 'client_hello' && !truncated && f.ciphers && f.extensions) {
    tls.ja4 = ja4({
      // JA4 reads "00" for a supported_versions extension left empty by GREASE removal.
      version: versions ? (versions[0] ?? 0) : (f.legacy ?? 0),
      sni: f.sniPresent,
      ciphers: f.ciphers,
      extensions: f.extensions,
      alpn: f.alpnFirst,
      sigalgs: f.sigalgs ?? [],
    });
  }
  if (f.extensions) tls.extensions = f.extensions;
  if (f.groups) tls.groups = f.groups.map(groupName);
  if (truncated) tls.truncated = true;
  return tls;
}
