#!/usr/bin/python3
"""streamstatsd with TLS and JWT, end to end (issue 13): real processes on 127.0.0.1, clients from
outside the code under test (Python's ssl and websockets, PyJWT), certificates and keys made by the
`openssl` command in a temporary directory at test time.

Each refusal is checked three ways: the client sees a clear refusal, nothing was applied (no
stream, no sample), and its counter in /metrics went up by one.

usage: tls_jwt_e2e.py --streamstatsd PATH [--io-threads N]   (exit status 0 = every check passed)
--io-threads N runs every streamstatsd with [server] io_threads = N (issue 12: the TLS endpoints,
the handshake decisions and the per-request checks of every io thread).
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import jwt  # PyJWT (Debian python3-jwt)
import websockets

FAILURES = []
CHECKS = 0
THREADS = ""  # "io_threads = N\n" with --io-threads N


def check(cond, what):
    global CHECKS
    CHECKS += 1
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


class Pki:
    def __init__(self, d):
        self.d = d
        self.serial = 100

    def p(self, name):
        return os.path.join(self.d, name)

    def ca(self, name):
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", self.p(name + ".key"), "-out", self.p(name + ".pem"), "-days", "2", "-subj", "/CN=" + name)

    def leaf(self, name, ca, days=1):
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", self.p(name + ".key"), "-out", self.p(name + ".csr"), "-subj", "/CN=" + name)
        with open(self.p(name + ".ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        self.serial += 1
        sh("openssl", "x509", "-req", "-in", self.p(name + ".csr"), "-CA", self.p(ca + ".pem"), "-CAkey",
           self.p(ca + ".key"), "-set_serial", str(self.serial), "-days", str(days), "-extfile",
           self.p(name + ".ext"), "-out", self.p(name + ".pem"))

    def rsa(self, name):
        sh("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.p(name + ".key"))
        sh("openssl", "pkey", "-in", self.p(name + ".key"), "-pubout", "-out", self.p(name + ".pub"))


class Daemon:
    """streamstatsd with a config file; the port is read from its first stdout line."""

    def __init__(self, exe, config_path):
        self.proc = subprocess.Popen([exe, "--config", config_path], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on (https?)://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("streamstatsd did not start: %r %s" % (line, self.proc.stderr.read()))
        self.scheme, self.port = m.group(1), int(m.group(2))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stderr.read()


def client_ctx(pki, ca="ca", cert=None):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=pki.p(ca + ".pem"))
    if cert:
        ctx.load_cert_chain(pki.p(cert + ".pem"), pki.p(cert + ".key"))
    return ctx


def metrics(port, ctx):
    with urllib.request.urlopen("https://127.0.0.1:%d/metrics" % port, context=ctx, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def metric(m, name):
    return m.get(name, 0.0)


async def ws_connect(port, ctx, token=None, path="/ws"):
    headers = {"Authorization": "Bearer " + token} if token else None
    return await asyncio.wait_for(
        websockets.connect("wss://127.0.0.1:%d%s" % (port, path), ssl=ctx, extra_headers=headers,
                           open_timeout=10, ping_interval=None), 15)


async def request(ws, msg):
    """Sends `msg` and returns the reply carrying its id (snapshots of subscriptions are skipped)."""
    await ws.send(json.dumps(msg))
    deadline = time.monotonic() + 10
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if reply.get("id") == msg.get("id") or reply.get("type") not in ("snapshot", "alert"):
            return reply


def token(key, claims, alg="RS256", headers=None):
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


async def refused_401(port, ctx, tok):
    """The handshake's HTTP status and WWW-Authenticate, or (None, None) when it was accepted."""
    try:
        ws = await ws_connect(port, ctx, tok)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code, e.headers.get("WWW-Authenticate", "")
    await ws.close()
    return None, None


def tls_refused(port, ctx):
    """The ssl error of a TLS handshake on `port` with `ctx`, or None when it succeeded (then a
    request is made, since TLS 1.3 reports a refused client certificate only at the first read)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                data = s.recv(100)
                if not data:
                    return "closed without an answer"
                return None
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        return str(e)


async def jwt_and_rights(pki, exe, d):
    """wss:// with JWT (RS256, iss, aud, no anonymous access): the good path, each refusal, rights,
    expiry on a live connection, and a certificate reload under an open connection."""
    key = open(pki.p("issuer.key")).read()
    other = open(pki.p("mallory.key")).read()
    ctx = client_ctx(pki)
    port = d.port
    now = int(time.time())
    base = {"iss": "https://auth.test", "aud": "streamstats", "sub": "feeder"}
    rights = {"publish": ["sensors/*"], "subscribe": ["sensors/*"]}

    # https:// on the same port: the page's routes.
    with urllib.request.urlopen("https://127.0.0.1:%d/healthz" % port, context=ctx, timeout=10) as r:
        check(r.status == 200 and r.read() == b"ok\n", "https /healthz answers on the wss port")
    m0 = metrics(port, ctx)
    check(metric(m0, "streamstats_tls_certificate_not_after_seconds") > now, "/metrics shows the certificate expiry")

    # The good path.
    good = token(key, dict(base, exp=now + 600, streams=rights))
    ws = await ws_connect(port, ctx, good)
    ack = await request(ws, {"type": "push", "stream": "sensors/a", "values": [1.0, 2.0, 3.0], "id": 1})
    check(ack.get("type") == "ack" and ack.get("accepted") == 3, "a valid JWT pushes over wss:// (ack)")
    sub = await request(ws, {"type": "subscribe", "stream": "sensors/a", "id": 2})
    check(sub.get("type") == "subscribed", "and subscribes within its rights")

    # A stream outside the rights: refused per request, nothing created.
    m1 = metrics(port, ctx)
    err = await request(ws, {"type": "push", "stream": "actuators/valve", "value": 1.0, "id": 3})
    check(err.get("type") == "error" and err.get("code") == "forbidden", "push outside the rights: error forbidden")
    err = await request(ws, {"type": "subscribe", "stream": "*", "id": 4})
    check(err.get("code") == "forbidden", "subscribe \"*\" without a \"*\" right: error forbidden")
    m2 = metrics(port, ctx)
    check(metric(m2, "streamstats_streams") == metric(m1, "streamstats_streams") == 1, "no stream was created")
    check(metric(m2, "streamstats_samples_total") == metric(m1, "streamstats_samples_total"), "no sample was applied")
    check(metric(m2, 'streamstats_rejected_total{code="forbidden"}') ==
          metric(m1, 'streamstats_rejected_total{code="forbidden"}') + 2, "rejected_total{code=forbidden} +2")

    # Each bad token: 401 at the handshake with the reason, nothing applied, its counter +1.
    none_tok = jwt.encode(dict(base, exp=now + 600, streams={"publish": ["*"]}), None, algorithm="none")
    cases = [
        ("expired", token(key, dict(base, exp=now - 60, streams=rights))),
        ("not_yet_valid", token(key, dict(base, exp=now + 600, nbf=now + 300, streams=rights))),
        ("bad_signature", token(other, dict(base, exp=now + 600, streams=rights))),
        ("alg_mismatch", none_tok),
        ("bad_audience", token(key, dict(base, aud="another-service", exp=now + 600, streams=rights))),
        ("bad_issuer", token(key, dict(base, iss="https://evil.test", exp=now + 600, streams=rights))),
        ("missing_token", None),
    ]
    for reason, tok in cases:
        before = metrics(port, ctx)
        status, www = await refused_401(port, ctx, tok)
        after = metrics(port, ctx)
        label = 'streamstats_auth_refused_total{reason="%s"}' % reason
        check(status == 401, "%s: handshake refused with HTTP 401 (got %s)" % (reason, status))
        if tok is not None:
            check('error="invalid_token"' in (www or "") and reason in (www or ""),
                  "%s: WWW-Authenticate names it (%r)" % (reason, www))
        check(metric(after, label) == metric(before, label) + 1, "%s: %s +1" % (reason, label))
        check(metric(after, "streamstats_samples_total") == metric(before, "streamstats_samples_total") and
              metric(after, "streamstats_streams") == metric(before, "streamstats_streams"),
              "%s: nothing applied" % reason)

    # A token that expires on a live connection: closed with 4001, counted.
    short = token(key, dict(base, exp=int(time.time()) + 2, streams=rights))
    before = metrics(port, ctx)
    live = await ws_connect(port, ctx, short)
    code = None
    try:
        await asyncio.wait_for(live.wait_closed(), 10)
        code = live.close_code
    except asyncio.TimeoutError:
        pass
    check(code == 4001, "a token that expires on a live connection closes it with 4001 (got %s)" % code)
    after = metrics(port, ctx)
    check(metric(after, "streamstats_token_expired_closes_total") ==
          metric(before, "streamstats_token_expired_closes_total") + 1, "token_expired_closes_total +1")

    # SIGHUP reloads the certificate: the open connection lives on, new ones see the new certificate.
    shutil.copy(pki.p("renewed.pem"), pki.p("server.pem"))
    shutil.copy(pki.p("renewed.key"), pki.p("server.key"))
    d.proc.send_signal(signal.SIGHUP)
    # No connection meanwhile: the first one after the reload is the one whose socket the server
    # prepared before it (websocketpp makes the next connection before accept returns).
    await asyncio.sleep(1.0)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
    check(subject.get("commonName") == "renewed",
          "the first connection after the reload gets the renewed certificate (%s)" % subject)
    deadline = time.time() + 10
    reloads = 0
    while time.time() < deadline:
        reloads = metric(metrics(port, ctx), "streamstats_tls_reloads_total")
        if reloads >= 1:
            break
        await asyncio.sleep(0.1)
    check(reloads == 1, "SIGHUP: tls_reloads_total = 1")
    ack = await request(ws, {"type": "push", "stream": "sensors/a", "value": 4.0, "id": 5})
    check(ack.get("type") == "ack", "the connection opened before the reload still works")

    # A renewal half written (a key that does not match): SIGHUP keeps serving the running certificate.
    shutil.copy(pki.p("client.key"), pki.p("server.key"))
    d.proc.send_signal(signal.SIGHUP)
    await asyncio.sleep(1.0)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
    check(subject.get("commonName") == "renewed", "a reload with a mismatched key keeps the running certificate")
    check(metric(metrics(port, ctx), "streamstats_tls_reloads_total") == 1, "and is not counted as a reload")
    ack = await request(ws, {"type": "push", "stream": "sensors/a", "value": 5.0, "id": 6})
    check(ack.get("type") == "ack", "the open connection still works")
    await ws.close()


async def transport_refusals(pki, d_plain_ca, d_mtls):
    """Wrong CA, expired server certificate, plaintext to the TLS port, mutual TLS."""
    port = d_plain_ca.port
    ctx = client_ctx(pki)
    # The client trusts another CA: it refuses the server (and the server counts a failed handshake).
    before = metrics(port, ctx)
    err = tls_refused(port, client_ctx(pki, ca="otherca"))
    check(err is not None and "CERTIFICATE_VERIFY_FAILED" in err, "wrong CA: the client refuses (%s)" % err)
    after = metrics(port, ctx)
    label = 'streamstats_tls_handshake_failures_total{reason="client_refused_certificate"}'
    check(metric(after, label) == metric(before, label) + 1, "wrong CA: %s +1" % label)

    # Plaintext HTTP to the TLS port: no answer in clear, counted as not_tls.
    label = 'streamstats_tls_handshake_failures_total{reason="not_tls"}'
    before = metrics(port, ctx)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    check(b"HTTP/1.1" not in data and b"streamstats_" not in data, "plaintext: nothing answered in clear")
    after = metrics(port, ctx)
    check(metric(after, label) == metric(before, label) + 1, "plaintext: %s +1" % label)

    # Mutual TLS: a good client certificate passes; none, another CA's and an expired one do not.
    mport = d_mtls.port
    good = client_ctx(pki, cert="client")
    check(tls_refused(mport, good) is None, "mutual TLS: the CA's client certificate is accepted")
    for cert, reason in [(None, "no_client_certificate"), ("stranger", "untrusted_certificate"),
                         ("expired", "expired_certificate")]:
        label = 'streamstats_tls_handshake_failures_total{reason="%s"}' % reason
        before = metrics(mport, good)
        err = tls_refused(mport, client_ctx(pki, cert=cert))
        after = metrics(mport, good)
        check(err is not None, "mutual TLS, %s: refused (%s)" % (reason, err))
        check(metric(after, label) == metric(before, label) + 1, "mutual TLS, %s: %s +1" % (reason, label))


def expired_server(pki, exe, d_dir):
    """A server whose certificate has expired: the client refuses it."""
    cfg = os.path.join(d_dir, "expired.toml")
    with open(cfg, "w") as f:
        f.write('[server]\nport = 0\n' + THREADS + '[tls]\ncert = "%s"\nkey = "%s"\n' % (pki.p("expiredsrv.pem"), pki.p("expiredsrv.key")))
    d = Daemon(exe, cfg)
    err = ""
    try:
        label = 'streamstats_tls_handshake_failures_total{reason="client_refused_certificate"}'
        err = tls_refused(d.port, client_ctx(pki))
        check(err is not None and "certificate has expired" in err, "expired server certificate: refused (%s)" % err)
        # /metrics of this server, read by a client that does not check the certificate.
        lax = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        lax.check_hostname = False
        lax.verify_mode = ssl.CERT_NONE
        check(metric(metrics(d.port, lax), label) == 1, "expired server certificate: %s = 1" % label)
    finally:
        err = d.stop()
    check(d.proc.returncode == 0 and "Sanitizer" not in err, "streamstatsd stopped cleanly on SIGTERM")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streamstatsd", required=True)
    ap.add_argument("--io-threads", type=int, default=1)
    args = ap.parse_args()
    global THREADS
    THREADS = "io_threads = %d\n" % args.io_threads
    tmp = tempfile.mkdtemp(prefix="streamstats_tls_e2e_")
    daemons = []
    try:
        pki = Pki(tmp)
        pki.ca("ca")
        pki.ca("otherca")
        for name, ca, days in [("server", "ca", 1), ("renewed", "ca", 2), ("client", "ca", 1),
                               ("stranger", "otherca", 1), ("expired", "ca", -1), ("expiredsrv", "ca", -1)]:
            pki.leaf(name, ca, days)
        pki.rsa("issuer")
        pki.rsa("mallory")
        jwt_cfg = os.path.join(tmp, "jwt.toml")
        with open(jwt_cfg, "w") as f:
            f.write('[server]\nport = 0\n' + THREADS + 'snapshot_interval_ms = 50\n'
                    '[tls]\ncert = "%s"\nkey = "%s"\n'
                    '[jwt]\nalgorithm = "RS256"\nkey_file = "%s"\nissuer = "https://auth.test"\n'
                    'audience = "streamstats"\nleeway_s = 0\n' % (pki.p("server.pem"), pki.p("server.key"),
                                                                  pki.p("issuer.pub")))
        mtls_cfg = os.path.join(tmp, "mtls.toml")
        with open(mtls_cfg, "w") as f:
            f.write('[server]\nport = 0\n' + THREADS + '[tls]\ncert = "%s"\nkey = "%s"\nclient_ca = "%s"\n' % (
                pki.p("server.pem"), pki.p("server.key"), pki.p("ca.pem")))
        d_mtls = Daemon(args.streamstatsd, mtls_cfg)
        daemons.append(d_mtls)
        d = Daemon(args.streamstatsd, jwt_cfg)
        daemons.append(d)
        check(d.scheme == "https", "streamstatsd with [tls] prints an https:// address")
        asyncio.run(transport_refusals(pki, d, d_mtls))
        asyncio.run(jwt_and_rights(pki, args.streamstatsd, d))
        expired_server(pki, args.streamstatsd, tmp)
    finally:
        for x in daemons:
            err = x.stop()
            check(x.proc.returncode == 0 and "Sanitizer" not in err and "runtime error" not in err,
                  "streamstatsd stopped cleanly on SIGTERM (exit %s)" % x.proc.returncode)
            if FAILURES:
                sys.stderr.write(err)
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (CHECKS - len(FAILURES), len(FAILURES)))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
