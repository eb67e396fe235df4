"""Times a start to the first answer: first-answer.py PORT CMD...  runs CMD (not waiting for it if it stays up:
a server started cold; waiting for it if it ends: a `restore -d`), then asks http://127.0.0.1:PORT/ every
millisecond until it answers 200, and prints the milliseconds from just before CMD started. The bench's JVM
start-up figure: restored from images against a cold start, measured the same way."""
import subprocess
import sys
import time
import urllib.request

port, cmd = int(sys.argv[1]), sys.argv[2:]
t0 = time.monotonic()
proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open('first-answer.out', 'ab'),
                        stderr=subprocess.STDOUT, start_new_session=True)
deadline = t0 + 300
while True:
    code = proc.poll()
    if code not in (None, 0):
        print('failed: %s exited %d' % (cmd[0], code))
        sys.exit(1)
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/' % port, timeout=30) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        print('failed: no answer within 300 s')
        sys.exit(1)
    time.sleep(0.001)
print('%.1f' % ((time.monotonic() - t0) * 1000))
