"""A client's load over kept-alive HTTP/1.1 connections, as browsers and HTTP client libraries keep them: the
connections stay open across the dump and the restore (with --tcp-established) and the requests in flight at
the freeze are answered after it. New connections while the server is away would be refused by any engine.

keepalive-load.py PORT PATH-FORMAT [BODY-FORMAT]   e.g. 8000 /f{m}.txt "file {m} of the case\\n"
{n} is the request's number, {m} the number modulo 100, {c} modulo 256. Two connections, each on a thread, a
request every 10 ms, until $WORK/load.stop exists; $WORK/load.count has the requests answered so far. A failed
or wrong answer prints "request N failed: why" (and the connection is opened again)."""
import http.client
import os
import sys
import threading
import time

port, path_format = int(sys.argv[1]), sys.argv[2]
body_format = sys.argv[3].encode().decode('unicode_escape') if len(sys.argv) > 3 else None
work = os.environ['WORK']
lock = threading.Lock()
answered = 0
number = 0


def next_number():
    global number
    with lock:
        number += 1
        return number


def client():
    global answered
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
    while not os.path.exists(os.path.join(work, 'load.stop')):
        n = next_number()
        values = {'n': n, 'm': n % 100, 'c': n % 256}
        try:
            conn.request('GET', path_format.format(**values))
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise OSError('HTTP %d' % r.status)
            if body_format is not None and body.decode() != body_format.format(**values):
                raise OSError('wrong body %r' % body[:60])
            with lock:
                answered += 1
                with open(os.path.join(work, 'load.count.tmp'), 'w') as f:
                    f.write('%d\n' % answered)
                os.replace(os.path.join(work, 'load.count.tmp'), os.path.join(work, 'load.count'))
        except (OSError, http.client.HTTPException) as e:
            print('request %d failed: %s' % (n, e), flush=True)
            conn.close()
            conn = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
            time.sleep(0.1)
        time.sleep(0.01)
    conn.close()


threads = [threading.Thread(target=client) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print('load: %d requests answered' % answered)
