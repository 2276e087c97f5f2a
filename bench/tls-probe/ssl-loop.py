# A TLS client and server in one process over memory BIOs (the system's
# libssl, no sockets): each round is SSL_write, SSL_read on each side, so
# every libssl read/write call is timed with nothing else in the way.
#   ssl-loop.py <cert.pem> <key.pem> <rounds> <reps>
# Prints the best of <reps> as ns per SSL call.
import ssl, sys, time

cert, key, rounds, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(cert, key)
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
cctx.check_hostname = False
cctx.verify_mode = ssl.CERT_NONE
ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
c = cctx.wrap_bio(ci, co, server_hostname='bench.test')
s = sctx.wrap_bio(si, so, server_side=True)
for _ in range(10):
    for o in (c, s):
        try:
            o.do_handshake()
        except ssl.SSLWantReadError:
            pass
    si.write(co.read())
    ci.write(so.read())
msg = b'x' * 200
best = None
for _ in range(reps):
    t = time.perf_counter()
    for _ in range(rounds):
        c.write(msg); si.write(co.read()); s.read(4096)
        s.write(msg); ci.write(so.read()); c.read(4096)
    ns = (time.perf_counter() - t) / rounds / 4 * 1e9
    best = ns if best is None else min(best, ns)
print(round(best))
