"""A program with worker threads: four workers take jobs from a queue and compute a SHA-256 chain for each;
a small HTTP/1.1 control interface on loopback (a thread per connection) takes jobs and gives results.

POST /jobs   body: lines "ID SEED ROUNDS"; queues them
GET /results lines "ID DIGEST" of every finished job, in ID order
GET /stats   "submitted N done M"
"""
import hashlib
import http.server
import queue
import sys
import threading

jobs = queue.Queue()
results = {}
lock = threading.Lock()
submitted = 0


def chain(seed, rounds):
    d = seed.encode()
    for _ in range(rounds):
        d = hashlib.sha256(d).digest()
    return d.hex()


def worker():
    while True:
        job_id, seed, rounds = jobs.get()
        digest = chain(seed, rounds)
        with lock:
            results[job_id] = digest


class Control(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_POST(self):
        global submitted
        body = self.rfile.read(int(self.headers.get('Content-Length', 0))).decode()
        n = 0
        for line in body.splitlines():
            job_id, seed, rounds = line.split()
            jobs.put((int(job_id), seed, int(rounds)))
            n += 1
        with lock:
            submitted += n
        self.answer('queued %d\n' % n)

    def do_GET(self):
        with lock:
            if self.path == '/results':
                text = ''.join('%d %s\n' % (k, results[k]) for k in sorted(results))
            elif self.path == '/stats':
                text = 'submitted %d done %d\n' % (submitted, len(results))
            else:
                self.send_error(404)
                return
        self.answer(text)

    def answer(self, text):
        data = text.encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == '__main__':
    for _ in range(4):
        threading.Thread(target=worker, daemon=True).start()
    http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), Control).serve_forever()
