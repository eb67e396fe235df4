#!/usr/bin/python3
# counting loop: N cycles of start, dump (timed), reap, restore -d (timed), verify; prints medians
import os, sys, subprocess, time, json, shutil, statistics, signal
repo = os.environ.get("REPO", "/work/main")
cryo = os.environ.get("CRYO", repo + "/bin/cryo")
n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
extra = sys.argv[2:]
base = "/dev/shm/cl"
shutil.rmtree(base, ignore_errors=True); os.makedirs(base)
fro, dw, rw = [], [], []
for i in range(n):
    d = f"{base}/img{i}"; os.makedirs(d)
    ready = f"{base}/ready{i}"
    env = dict(os.environ, CRYO_FX_READY=ready)
    p = subprocess.Popen([repo + "/fixtures-c/build/counter", "--step-ms=100"], stdin=subprocess.DEVNULL,
                         stdout=open(f"{base}/out{i}", "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    while not os.path.exists(ready): time.sleep(0.01)
    time.sleep(0.2)
    t = time.monotonic()
    r = subprocess.run([cryo, "dump", "-t", str(p.pid), "-D", d, "-o", "dump.log", "-v4"] + extra, capture_output=True, text=True)
    dw.append((time.monotonic() - t) * 1000)
    if r.returncode: print("dump failed", r.stderr); sys.exit(1)
    p.wait()
    t = time.monotonic()
    r = subprocess.run([cryo, "restore", "-d", "-D", d, "-o", "restore.log", "-v4"], capture_output=True, text=True)
    rw.append((time.monotonic() - t) * 1000)
    if r.returncode: print("restore failed", r.stderr); sys.exit(1)
    js = subprocess.run([cryo, "decode", "-i", d + "/stats-dump"], capture_output=True, text=True).stdout
    st = json.loads(js)["entries"][0]["dump"]
    fro.append(st["frozen_time"] / 1000)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGKILL)
    for _ in range(100):
        if not os.path.exists(f"/proc/{p.pid}"): break
        time.sleep(0.01)
def s(x): return f"median {statistics.median(x):7.1f} ms  min {min(x):7.1f}  max {max(x):7.1f}"
print("load", open("/proc/loadavg").read().split()[:3])
print("frozen ", s(fro)); print("dump   ", s(dw)); print("restore", s(rw))
print("frozen all", [round(x,1) for x in fro])
