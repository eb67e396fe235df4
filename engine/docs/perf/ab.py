#!/usr/bin/python3
# A/B counting loop: configs alternate cycle by cycle, so load changes hit all alike.
# usage: ab.py N name=/path/to/cryo[:ENV=VAL,...] ...
import os, sys, subprocess, time, json, shutil, statistics, signal
repo = os.environ.get("REPO", "/work/main")
n = int(sys.argv[1]); cfgs = []
for a in sys.argv[2:]:
    name, rest = a.split("=", 1); path, _, envs = rest.partition(":")
    env = dict(os.environ); [env.__setitem__(*e.split("=", 1)) for e in envs.split(",") if e]
    cfgs.append((name, path, env))
base = "/dev/shm/ab"; shutil.rmtree(base, ignore_errors=True); os.makedirs(base)
res = {c[0]: ([], [], []) for c in cfgs}; loads = []
k = 0
for i in range(n):
    for name, cryo, env in cfgs:
        k += 1; d = f"{base}/img{k}"; os.makedirs(d); ready = f"{base}/ready{k}"
        p = subprocess.Popen([repo + "/fixtures-c/build/counter", "--step-ms=100"], stdin=subprocess.DEVNULL,
                             stdout=open(f"{base}/out{k}", "w"), stderr=subprocess.STDOUT,
                             env=dict(os.environ, CRYO_FX_READY=ready), start_new_session=True)
        while not os.path.exists(ready): time.sleep(0.01)
        time.sleep(0.2)
        loads.append(float(open("/proc/loadavg").read().split()[0]))
        t = time.monotonic()
        r = subprocess.run([cryo, "dump", "-t", str(p.pid), "-D", d, "-o", "dump.log", "-v4"], capture_output=True, text=True, env=env)
        dw = (time.monotonic() - t) * 1000
        if r.returncode or r.stderr: print(name, "dump", r.returncode, r.stderr)
        if r.returncode: sys.exit(1)
        p.wait()
        t = time.monotonic()
        r = subprocess.run([cryo, "restore", "-d", "-D", d, "-o", "restore.log", "-v4"], capture_output=True, text=True, env=env)
        rw = (time.monotonic() - t) * 1000
        if r.returncode or r.stderr: print(name, "restore", r.returncode, r.stderr)
        if r.returncode: sys.exit(1)
        js = subprocess.run([cryo, "decode", "-i", d + "/stats-dump"], capture_output=True, text=True, env=env).stdout
        fr = json.loads(js)["entries"][0]["dump"]["frozen_time"] / 1000
        f, a, b = res[name]; f.append(fr); a.append(dw); b.append(rw)
        time.sleep(0.3)
        os.kill(p.pid, signal.SIGKILL)
        for _ in range(100):
            if not os.path.exists(f"/proc/{p.pid}"): break
            time.sleep(0.01)
def s(x): return f"{statistics.median(x):6.1f} ({min(x):.1f}-{max(x):.1f})"
print(f"load 1-min avg during run: median {statistics.median(loads):.1f} ({min(loads):.1f}-{max(loads):.1f}), n={n} per config")
print(f"{'config':12} {'frozen ms':22} {'dump wall ms':24} {'restore wall ms':24}")
for name, (f, a, b) in res.items(): print(f"{name:12} {s(f):22} {s(a):24} {s(b):24}")
