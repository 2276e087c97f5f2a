/**
 * Clients of TLS libraries that no Debian command-line tool uses, driven
 * from python3 (ctypes): real libraries, so that what busted probes in them
 * is tested against what they really call.
 */

/** python3 driving libcurl built on NSS (ctypes): POST argv[2] to argv[1] with header argv[3]; exit 0 on a 200 */
export const NSS_CURL = `import ctypes, sys
c = ctypes.CDLL('libcurl-nss.so.4')
c.curl_easy_init.restype = ctypes.c_void_p
c.curl_easy_setopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
c.curl_easy_getinfo.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
c.curl_slist_append.restype = ctypes.c_void_p
c.curl_slist_append.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
URL, VERIFYPEER, VERIFYHOST, POSTFIELDS, HTTPHEADER, WRITEFUNCTION, RESPONSE_CODE = 10002, 64, 81, 10015, 10023, 20011, 0x200002
WF = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p)
sink = WF(lambda p, s, n, u: s * n)
h = c.curl_easy_init()
body = ctypes.c_char_p(sys.argv[2].encode())
hdrs = c.curl_slist_append(c.curl_slist_append(None, b'content-type: application/json'), sys.argv[3].encode())
for opt, val in ((URL, ctypes.c_char_p(sys.argv[1].encode())), (VERIFYPEER, 0), (VERIFYHOST, 0), (POSTFIELDS, body), (HTTPHEADER, hdrs), (WRITEFUNCTION, ctypes.cast(sink, ctypes.c_void_p))):
    c.curl_easy_setopt(h, opt, val if not isinstance(val, int) else ctypes.c_void_p(val))
rc = c.curl_easy_perform(h)
code = ctypes.c_long(0)
c.curl_easy_getinfo(h, RESPONSE_CODE, ctypes.byref(code))
sys.exit(0 if rc == 0 and code.value == 200 else 'curl rc %d, status %d' % (rc, code.value))
`;

