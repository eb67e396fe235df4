"""The workers program's client: submits jobs and checks every result against its own computation.

client.py submit FIRST COUNT ROUNDS   queues jobs FIRST..FIRST+COUNT-1
client.py load FIRST                  from FIRST on, 20 jobs every 0.5 s over one kept-alive connection, until
                                      $WORK/load.stop exists; $WORK/load.count is the next job's number
client.py wait-done SECONDS           waits until every submitted job is done
client.py verify [all]                every result is the chain the client computes itself; with `all`, every
                                      submitted job has its result
"""
import hashlib
import http.client
import os
import sys
import time
import urllib.request

URL = 'http://127.0.0.1:8001'


def chain(seed, rounds):
    d = seed.encode()
    for _ in range(rounds):
        d = hashlib.sha256(d).digest()
    return d.hex()


def seed_of(job_id):
    return 'job-%d' % job_id


def rounds_of(job_id):
    return 2000 + job_id % 7 * 500


def get(path):
    with urllib.request.urlopen(URL + path, timeout=60) as r:
        return r.read().decode()


def main(args):
    if args[0] == 'submit':
        first, count = int(args[1]), int(args[2])
        body = ''.join('%d %s %d\n' % (i, seed_of(i), rounds_of(i)) for i in range(first, first + count))
        urllib.request.urlopen(urllib.request.Request(URL + '/jobs', data=body.encode(), method='POST'), timeout=60).read()
    elif args[0] == 'load':
        n, work = int(args[1]), os.environ['WORK']
        conn = http.client.HTTPConnection('127.0.0.1', 8001, timeout=120)
        while not os.path.exists(os.path.join(work, 'load.stop')):
            body = ''.join('%d %s %d\n' % (i, seed_of(i), rounds_of(i)) for i in range(n, n + 20))
            try:
                conn.request('POST', '/jobs', body=body.encode())
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise OSError('HTTP %d' % r.status)
                n += 20
                with open(os.path.join(work, 'load.count'), 'w') as f:
                    f.write('%d\n' % n)
            except (OSError, http.client.HTTPException) as e:
                print('submitting jobs %d.. failed: %s' % (n, e), flush=True)
                return 1
            time.sleep(0.5)
        print('load: %d jobs submitted' % n)
    elif args[0] == 'wait-done':
        end = time.monotonic() + float(args[1])
        while True:
            _, submitted, _, done = get('/stats').split()
            if submitted == done:
                return 0
            if time.monotonic() > end:
                print('only %s of %s jobs done within %s s' % (done, submitted, args[1]))
                return 1
            time.sleep(0.05)
    elif args[0] == 'verify':
        lines = get('/results').splitlines()
        for line in lines:
            job_id, digest = line.split()
            if digest != chain(seed_of(int(job_id)), rounds_of(int(job_id))):
                print('job %s: the program says %s, the client computes another digest' % (job_id, digest))
                return 1
        if args[1:] == ['all']:
            submitted = int(get('/stats').split()[1])
            ids = [int(l.split()[0]) for l in lines]
            if ids != list(range(submitted)):
                print('%d results for %d submitted jobs' % (len(ids), submitted))
                return 1
        print('%d results verified' % len(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
