"""Helpers shared by the operations tests (metrics, logs, roles, day-two procedures,
scale-out): scraping the Prometheus endpoint, finding a server's admin port, waiting."""
import re
import time
import urllib.request

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_METRICS_PORT = re.compile(r"\bevent[=\":]+metrics_listening\b.*\bport[=\":]+(\d+)")


def metrics_port(server, timeout=10):
    """The admin port a server logged in its event=metrics_listening line."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = _METRICS_PORT.search(server.log())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("no event=metrics_listening line:\n" + server.log()[-3000:])


def fetch(port, path="/metrics", method="GET", timeout=10):
    """(HTTP status, content type, body text) of one request to the admin endpoint."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def parse(text):
    """Prometheus text → {(name, frozenset(label items)): float}; checks every line parses
    and that every sample has a TYPE."""
    out, types = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "unparsable metrics line: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, "no TYPE for %s" % name
        key = (name, frozenset(_LABEL.findall(labels)))
        assert key not in out, "duplicate series %r" % (key,)
        out[key] = float(value)
    return out


def scrape(port):
    status, ctype, body = fetch(port)
    assert status == 200, (status, body)
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    return parse(body)


def value(samples, name, **labels):
    """The value of one series (0 when absent)."""
    want = set((k, str(v)) for k, v in labels.items())
    for (n, ls), v in samples.items():
        if n == name and want <= set(ls) and len(ls) == len(want):
            return v
    return 0.0


def total(samples, name, **labels):
    """The sum of every series of `name` whose labels include the given ones."""
    want = set((k, str(v)) for k, v in labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def wait_for(pred, timeout=15, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = pred()
        if r:
            return r
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)
